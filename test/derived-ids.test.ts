/**
 * The ids of anonymous one-request clients of an open server (a curl POST that names nobody):
 * others see them (every entry's `from`), so they must not give the address away; and they scope
 * the client's clientIds, so they must be the same after a restart and on every node of a store.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Ack, Entry } from '../src/protocol/types.js';
import { DerivedIds, MAX_REMEMBERED_IDS } from '../src/server/session/derived-ids.js';
import { mintToken } from '../src/server/auth/mint-token.js';
import { startServer, WsProbe } from './helpers.js';

interface Answer {
  status: number;
  json: unknown;
}

/** A JSON POST on a connection of its own, from `localAddress` (127.0.0.x are all this host's). */
function postFrom(url: string, body: unknown, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function history(url: string, room: string): Promise<Entry[]> {
  const res = await fetch(`${url}/api/rooms/${room}/messages?limit=500`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { entries: Entry[] }).entries;
}

/** The id the server gave before: the address's plain SHA-256, which 2^32 guesses reverse for any IPv4 address. */
const plainHashId = (address: string): string => `anon-${createHash('sha256').update(address).digest('base64url').slice(0, 12)}`;

const ANON_ID = /^anon-[A-Za-z0-9_-]{12}$/;

describe('anonymous senders', () => {
  it('get an id that is not the hash of their address: one per address, over the REST and the lecture routes', async () => {
    const s = await startServer();
    try {
      const url = `${s.url}/api/rooms/lobby/messages`;
      assert.equal((await postFrom(url, { text: 'one', clientId: 'c1' })).status, 201);
      assert.equal((await postFrom(url, { text: 'two', clientId: 'c2' })).status, 201);
      assert.equal((await postFrom(url, { text: 'three', clientId: 'c1' }, '127.0.0.2')).status, 201);
      assert.equal((await postFrom(`${s.url}/update`, { text: 'four' })).status, 200);
      const ids = (await history(s.url, 'lobby')).filter((e) => e.type === 'message').map((e) => e.from.id);
      assert.equal(ids.length, 4);
      for (const id of ids) assert.match(id, ANON_ID);
      assert.deepEqual([ids[1], ids[3]], [ids[0], ids[0]], 'one address, one sender');
      assert.notEqual(ids[2], ids[0], 'another address, another sender');
      assert.notEqual(ids[0], plainHashId('127.0.0.1'));
      assert.notEqual(ids[2], plainHashId('127.0.0.2'));
    } finally {
      await s.server.close();
    }
  });

  it('keep their id, and their clientIds, on two servers of one SQLite file and after a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-anon-'));
    const options = { store: 'sqlite' as const, dataDir };
    let a = await startServer(options);
    const b = await startServer(options);
    try {
      const publish = (url: string, text: string, clientId: string): Promise<Answer> => postFrom(`${url}/api/rooms/lobby/messages`, { text, clientId });
      const first = await publish(a.url, 'hello', 'k1');
      assert.equal(first.status, 201);
      const seq = (first.json as Ack).seq;
      // The retry reaches the other server: the same sender, so the stored entry comes back.
      const retry = await publish(b.url, 'hello', 'k1');
      assert.equal(retry.status, 200);
      assert.deepEqual([(retry.json as Ack).seq, (retry.json as Ack).duplicate], [seq, true]);
      assert.equal((await publish(b.url, 'again', 'k2')).status, 201);

      await a.server.close();
      a = await startServer(options);
      const afterRestart = await publish(a.url, 'hello', 'k1');
      assert.equal(afterRestart.status, 200);
      assert.deepEqual([(afterRestart.json as Ack).seq, (afterRestart.json as Ack).duplicate], [seq, true]);

      const messages = (await history(a.url, 'lobby')).filter((e) => e.type === 'message');
      assert.equal(messages.length, 2, 'k1 stored once');
      const [id, other] = messages.map((e) => e.from.id);
      assert.match(id!, ANON_ID);
      assert.equal(other, id, 'both servers name the client alike');
      assert.notEqual(id, plainHashId('127.0.0.1'));
    } finally {
      await Promise.all([a.server.close(), b.server.close()]);
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('are remembered by address, within a bound, and forgotten when the secret changes', () => {
    const senders = new DerivedIds();
    senders.setSecret(Buffer.alloc(32, 1));
    const first = senders.anonymous('192.0.2.1');
    assert.equal(senders.anonymous('192.0.2.1'), first);
    assert.equal(senders.remembered.anonymous, 1);
    // Ever new addresses: the memory never holds more than its bound, and ids stay what a fresh instance computes.
    for (let i = 0; i < MAX_REMEMBERED_IDS + 5; i++) senders.anonymous(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    assert.ok(senders.remembered.anonymous <= MAX_REMEMBERED_IDS, `${senders.remembered.anonymous} remembered`);
    const fresh = new DerivedIds();
    fresh.setSecret(Buffer.alloc(32, 1));
    assert.equal(fresh.anonymous('192.0.2.1'), first);
    assert.equal(senders.anonymous('192.0.2.1'), first);
    // Another secret (another store): no id of the old one is handed out.
    senders.setSecret(Buffer.alloc(32, 2));
    assert.notEqual(senders.anonymous('192.0.2.1'), first);
    assert.equal(senders.remembered.anonymous, 1);
    // A token's user who claims ever new connection ids: the same bound, its own memory.
    const ann = senders.connection('ann', 'tab-1');
    for (let i = 0; i < MAX_REMEMBERED_IDS + 5; i++) senders.connection('ann', `claim-${i}`);
    assert.ok(senders.remembered.connection <= MAX_REMEMBERED_IDS, `${senders.remembered.connection} remembered`);
    assert.equal(senders.remembered.anonymous, 1, 'the anonymous ids are not forgotten for it');
    assert.equal(senders.connection('ann', 'tab-1'), ann);
    assert.notEqual(senders.connection('bob', 'tab-1'), ann);

  });
});

describe("a token's user who claims a connection id (keyed server)", () => {
  it('gets one derived from its member and the claim: the same on each of its connections, another for another member or claim, never the claim itself', async () => {
    const secret = 'a-test-secret-of-at-least-32-bytes!!';
    const s = await startServer({ jwtSecret: secret, guests: 'read', guestRooms: ['lobby'] });
    const opened: WsProbe[] = [];
    try {
      const tokens = { ann: await mintToken(secret, { sub: 'ann', ttlSec: 600 }), bob: await mintToken(secret, { sub: 'bob', ttlSec: 600 }) };
      const welcome = async (query: string): Promise<string> => {
        const ws = new WsProbe(`${s.url.replace('http', 'ws')}/api/ws?${query}`);
        opened.push(ws);
        await ws.opened;
        return (await ws.next('welcome')).connectionId as string;
      };
      const ann1 = await welcome(`token=${tokens.ann}&connection=tab-1`);
      assert.match(ann1, /^c-[A-Za-z0-9_-]{16}$/);
      assert.equal(await welcome(`token=${tokens.ann}&connection=tab-1`), ann1, 'the same client on another connection: the same id');
      assert.notEqual(await welcome(`token=${tokens.ann}&connection=tab-2`), ann1, 'another client of ann');
      assert.notEqual(await welcome(`token=${tokens.bob}&connection=tab-1`), ann1, "bob saying ann's claim does not get her id");
      assert.notEqual(await welcome(`token=${tokens.bob}&connection=${ann1}`), ann1, "nor saying her id");
      const guest = await welcome('connection=tab-1');
      assert.doesNotMatch(guest, /^c-/, 'a guest: a connection id the server draws (its member is named after it)');
      assert.notEqual(await welcome('connection=tab-1'), guest);
      const bad = new WsProbe(`${s.url.replace('http', 'ws')}/api/ws?token=${tokens.ann}&connection=${'x'.repeat(200)}`);
      opened.push(bad);
      await assert.rejects(bad.opened, 'a claim that is no connection id is refused (400), as on an open server');
    } finally {
      for (const ws of opened) ws.close();
      await s.server.close();
    }
  });
});
