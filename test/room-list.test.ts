import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RoomInfo } from '../src/protocol/types.js';
import { request, startServer } from './helpers.js';

type Page = { rooms: RoomInfo[]; next?: string };

describe('GET /api/rooms pages', () => {
  it('answers pages by name with limit and after, next until the last page; default 100', async () => {
    const s = await startServer({ createRatePerSecond: 10_000, maxRooms: 1000 });
    try {
      const names = Array.from({ length: 120 }, (_, i) => `room-${String(i).padStart(3, '0')}`);
      for (const name of names) assert.equal((await request(`${s.url}/api/rooms/${name}`, { method: 'PUT' })).status, 201);
      const all = ['lobby', ...names].sort();
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const answer = await request(`${s.url}/api/rooms?limit=50${after ? `&after=${after}` : ''}`);
        assert.equal(answer.status, 200);
        const page = answer.json() as Page;
        assert.ok(page.rooms.length <= 50);
        seen.push(...page.rooms.map((r) => r.name));
        after = page.next;
        pages++;
      } while (after !== undefined);
      assert.deepEqual(seen, all);
      assert.equal(pages, 3);
      const first = (await request(`${s.url}/api/rooms`)).json() as Page;
      assert.equal(first.rooms.length, 100, 'default limit');
      assert.equal(first.next, all[99]);
      assert.deepEqual(Object.keys(first.rooms[0]!).sort(), ['epoch', 'firstSeq', 'lastSeq', 'members', 'name']);
      for (const bad of ['limit=0', 'limit=501', 'limit=x', 'after=..%2Fetc']) {
        const answer = await request(`${s.url}/api/rooms?${bad}`);
        assert.equal(answer.status, 400, bad);
        assert.equal((answer.json() as { code: string }).code, 'BAD_REQUEST');
      }
    } finally {
      await s.server.close();
    }
  });
});
