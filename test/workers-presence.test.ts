/**
 * Presence of polling clients under `switchboard serve --workers 2` without Redis, as real
 * processes: a poller holds no connection, so its requests land on either worker. Its presence
 * record belongs to the worker that saw its latest poll; a leave (`DELETE .../presence`) removes
 * it after the grace period whichever worker it reaches, and no other worker brings it back. Its
 * record moving between workers, as it was, tells its room nothing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PollResult, PresenceMember } from '../src/protocol/types.js';
import { PRESENCE_NOTICE_GAP_MS } from '../src/server/hub.js';
import { sleep, WsFollower } from './fixtures/log-clients.js';
import { WorkersProcess } from './fixtures/workers-process.js';
import { waitFor } from './helpers.js';

const built = existsSync('dist/src/cli/index.js');
const GRACE_MS = 300;
/** The presence tick of every worker (server.ts): a worker holding a stale copy brought a poller back at its next one. */
const TICK_MS = 5000;

interface Answer {
  status: number;
  /** The worker that answered (`x-switchboard-node`). */
  node: string;
  body: string;
}

/** One request; on `agent` (kept alive: the same worker each time) or on a connection of its own (the workers take new connections in turn). */
function call(method: string, url: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: agent ?? false, headers: agent ? {} : { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, node: String(res.headers['x-switchboard-node']), body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

describe('--workers 2: a poller whose requests reach both workers', { skip: built ? false : 'run `npm run build` first', timeout: 60_000 }, () => {
  let server: WorkersProcess;
  let dataDir: string;
  const agents: http.Agent[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sb-workers-presence-'));
    server = await WorkersProcess.start(['--workers', '2', '--worker-accept', 'primary', '--data-dir', dataDir, '--presence-grace-ms', String(GRACE_MS), '--connect-rate', '100000']);
  });
  after(async () => {
    for (const a of agents) a.destroy();
    await server?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  const api = (room: string, rest: string): string => `${server.url}/api/rooms/${room}/${rest}`;

  /** Joins `room`'s presence as connection `id` of member ann; resolves with the ticket and the worker that took it. */
  async function joinAs(room: string, id: string, agent?: http.Agent): Promise<{ ticket: string; node: string }> {
    const res = await call('POST', api(room, `presence?connection=${id}&member=ann&name=ann`), agent);
    assert.equal(res.status, 201, res.body);
    return { ticket: encodeURIComponent((JSON.parse(res.body) as { session: string }).session), node: res.node };
  }

  /** Ann's transports as GET .../presence lists them (sorted), or undefined when she is not there. */
  async function annIn(room: string): Promise<string[] | undefined> {
    const { members } = JSON.parse((await call('GET', api(room, 'presence'))).body) as { members: PresenceMember[] };
    const ann = members.find((m) => m.member === 'ann');
    return ann && [...ann.transports].sort();
  }

  /** Waits for ann's transports to be `expected`, then checks they stay so for `holdMs` (read every 100 ms). */
  async function annStays(room: string, expected: string[] | undefined, holdMs: number, what: string): Promise<void> {
    const started = Date.now();
    for (let now = await annIn(room); JSON.stringify(now) !== JSON.stringify(expected); now = await annIn(room)) {
      assert.ok(Date.now() - started < GRACE_MS + 2000, `${what}: ann is on ${JSON.stringify(now)} ${Date.now() - started} ms on, not ${JSON.stringify(expected)}`);
      await sleep(100);
    }
    const settled = Date.now();
    while (Date.now() - settled < holdMs) {
      await sleep(100);
      const now = await annIn(room);
      assert.deepEqual(now, expected, `${what}: ann is on ${JSON.stringify(now)} again ${Date.now() - settled} ms after she was on ${JSON.stringify(expected)}`);
    }
  }

  /** Creates `room` and a WebSocket watcher of it (closed when test `t` ends); resolves with the watcher and the room's start cursor. */
  async function watchNewRoom(room: string, t: { after(fn: () => void): void }): Promise<{ watcher: WsFollower; start: string }> {
    assert.equal((await call('PUT', `${server.url}/api/rooms/${room}`)).status, 201);
    const start = (JSON.parse((await call('GET', api(room, 'poll'))).body) as PollResult).cursor;
    const watcher = new WsFollower('watcher', room, start);
    t.after(() => watcher.close());
    await watcher.connect(server.url, '&member=watcher');
    return { watcher, start };
  }

  /** A kept-alive connection to the worker other than `node` (the primary hands new connections to the workers in turn). */
  async function agentAvoiding(node: string): Promise<http.Agent> {
    for (let i = 0; i < 10; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      if ((await call('GET', `${server.url}/healthz`, agent)).node !== node) return agent;
      agent.destroy();
    }
    throw new Error(`every connection went to ${node}`);
  }

  it('a leave that reaches the worker the poller never polled: the member leaves after the grace period', async () => {
    const room = 'leave-elsewhere';
    assert.equal((await call('PUT', `${server.url}/api/rooms/${room}`)).status, 201);
    // Every request of this poller on one kept-alive connection: one worker sees them all.
    const pinned = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(pinned);
    const { ticket, node } = await joinAs(room, 'c-pinned', pinned);
    for (let i = 0; i < 3; i++) assert.equal((await call('GET', api(room, `poll?session=${ticket}`), pinned)).node, node);
    assert.deepEqual(await annIn(room), ['polling']);

    const left = await call('DELETE', api(room, `presence?session=${ticket}`), await agentAvoiding(node));
    assert.equal(left.status, 204);
    assert.notEqual(left.node, node, 'the leave went to the other worker');
    await annStays(room, undefined, 500, 'after her leave');
  });

  it('a switch from short to long polling: the old connection leaves after the grace period and no worker brings it back', async () => {
    const room = 'switch';
    assert.equal((await call('PUT', `${server.url}/api/rooms/${room}`)).status, 201);
    const old = await joinAs(room, 'c-short');
    const polledBy = new Set<string>();
    for (let i = 0; i < 10 && (i < 4 || polledBy.size < 2); i++) polledBy.add((await call('GET', api(room, `poll?session=${old.ticket}`))).node);
    assert.equal(polledBy.size, 2, 'the short polls reached both workers');

    // As the SDK switches: the new transport joins and polls, then the old one leaves.
    const next = await joinAs(room, 'c-long');
    assert.equal((await call('GET', api(room, `longpoll?timeout=0&session=${next.ticket}`))).status, 200);
    let polling = true;
    const longPolls = (async () => {
      while (polling) await call('GET', api(room, `longpoll?timeout=1000&session=${next.ticket}`));
    })();
    try {
      assert.equal((await call('DELETE', api(room, `presence?session=${old.ticket}`))).status, 204);
      await annStays(room, ['long-polling'], TICK_MS + 1000, 'after the switch');
    } finally {
      polling = false;
      await longPolls;
    }
  });

  it('a poller whose requests alternate between the workers: its room is told of its join, then of nothing as its record moves between them', async (t) => {
    const room = 'moves';
    const { watcher } = await watchNewRoom(room, t);
    /**
     * Ann as each change notice the watcher got gave her. Not the whole lists: the watcher may get
     * one just after it subscribed (a notice came while it replayed), naming ann if she joined by then.
     */
    const annNotices = (): PresenceMember[][] =>
      watcher.frames
        .filter((f) => f.type === 'presence' && Array.isArray(f.changed))
        .map((f) => (f.changed as PresenceMember[]).filter((m) => m.member === 'ann'))
        .filter((ann) => ann.length > 0);

    const { ticket } = await joinAs(room, 'c-moving');
    await waitFor(() => annNotices().length > 0, 3000, "the notice of ann's join");
    // Past the join worker's notice gap: a change from then on is a notice of its own.
    await sleep(PRESENCE_NOTICE_GAP_MS + 200);
    const polledBy = new Set<string>();
    const polling = Date.now();
    // Past a presence tick of each worker: the copy of the worker not polled last is dropped, then made again by a poll.
    while (Date.now() - polling < TICK_MS + 1000) {
      polledBy.add((await call('GET', api(room, `poll?session=${ticket}`))).node);
      await sleep(250);
    }
    assert.equal(polledBy.size, 2, 'the polls reached both workers');
    await sleep(PRESENCE_NOTICE_GAP_MS + 500);
    assert.deepEqual(annNotices(), [[{ member: 'ann', name: 'ann', transports: ['polling'] }]], 'one notice, of her join');
  });

  it('a WebSocket that comes back on the other worker within the grace period, with its connection id (as the SDK reconnects), stays present: no leave, no join', async (t) => {
    const room = 'back-elsewhere';
    const { watcher, start } = await watchNewRoom(room, t);
    const first = new WsFollower('ann', room, start);
    await first.connect(server.url, '&member=ann&connection=ann-ws');
    /** The presence notices the watcher got that name ann, as `+transports` (in the list) or `left`. */
    const annNotices = (): string[] =>
      watcher.frames
        .filter((f) => f.type === 'presence')
        .flatMap((f) => [
          ...((f.changed as PresenceMember[] | undefined) ?? []).filter((m) => m.member === 'ann').map((m) => `+${m.transports.join()}`),
          ...((f.left as string[] | undefined) ?? []).filter((m) => m === 'ann').map(() => 'left'),
        ]);
    await waitFor(() => annNotices().length > 0, 3000, "the notice of ann's arrival");
    // Her socket breaks and she reconnects at once, with the same connection id: the primary
    // hands new connections to the workers in turn, so the next one goes to the other worker.
    first.close();
    let again: WsFollower | undefined;
    for (let i = 0; i < 4 && !again; i++) {
      const attempt = new WsFollower('ann', room, start);
      await attempt.connect(server.url, '&member=ann&connection=ann-ws');
      if (attempt.node !== first.node) again = attempt;
      else attempt.close();
    }
    assert.ok(again, 'a reconnection reached the other worker');
    t.after(() => again.close());
    // Past the grace period of the worker she left, and a presence tick of the one she is on.
    await annStays(room, ['websocket'], GRACE_MS + TICK_MS + 500, 'back on the other worker');
    assert.deepEqual(annNotices(), ['+websocket'], 'her arrival, then nothing: no leave, no second arrival');
  });
});