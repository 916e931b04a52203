import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type Client, type PresenceMember } from '../src/client/index.js';
import { mintToken } from '../src/server/auth/mint-token.js';
import type { Switchboard } from '../src/server/server.js';
import { startServer, waitFor, WsProbe } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

/**
 * Long enough that a check made within it (GRACE_MS / 10 after the close) still falls in it on a
 * busy machine: at 300 ms, a read that took 200 ms (CI) would have found the member gone.
 */
const GRACE_MS = 1000;
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const FAST = { pollIntervalMs: 50, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, openTimeoutMs: 2000 } as const;

/** One connection id on two transports at once: a client's own `connection=` sent twice (two tabs of a buggy client, a WebSocket beside a long poll). */
describe('presence of two transports sharing one connection id', () => {
  let server: Switchboard;
  let url: string;
  before(async () => {
    ({ server, url } = await startServer({ presenceGraceMs: GRACE_MS, connectRatePerSecond: 10_000, subscribeRatePerSecond: 10_000 }));
  });
  after(async () => {
    await server.close();
  });

  const wsUrl = (query: string) => `${url.replace('http', 'ws')}/api/ws?${query}`;
  async function members(room: string): Promise<PresenceMember[]> {
    return ((await (await fetch(`${url}/api/rooms/${room}/presence`)).json()) as { members: PresenceMember[] }).members;
  }
  async function transportsOf(room: string, member: string): Promise<string[] | undefined> {
    return (await members(room)).find((m) => m.member === member)?.transports.slice().sort();
  }
  async function until(what: string, check: () => Promise<boolean>, timeoutMs = GRACE_MS + 4000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function subscribed(room: string, query: string): Promise<WsProbe> {
    const ws = new WsProbe(wsUrl(query));
    await ws.opened;
    ws.send({ type: 'subscribe', id: '1', room });
    await ws.next('subscribed');
    return ws;
  }

  it("a second WebSocket with a live one's connection id is its client's reconnection (the old socket's close not seen yet): it replaces the first, listed once; the first's close changes nothing", { timeout: 10_000 }, async () => {
    await fetch(`${url}/api/rooms/tabs`, { method: 'PUT' });
    const first = await subscribed('tabs', 'name=bob&member=bob&connection=bob-c1');
    await until('bob listed', async () => (await transportsOf('tabs', 'bob'))?.length === 1);
    const second = await subscribed('tabs', 'name=bob&member=bob&connection=bob-c1');
    await sleep(200);
    assert.deepEqual(await transportsOf('tabs', 'bob'), ['websocket'], 'one client, one transport: listed once');
    first.close();
    await first.closed;
    // Well past the grace of the closed one: the other still lives.
    await sleep(GRACE_MS * 2);
    assert.deepEqual(await transportsOf('tabs', 'bob'), ['websocket'], 'the new socket keeps bob present');
    second.close();
    await second.closed;
    await sleep(GRACE_MS / 10);
    assert.deepEqual(await transportsOf('tabs', 'bob'), ['websocket'], 'a member who leaves gets the grace');
    await until('bob gone after the grace', async () => (await transportsOf('tabs', 'bob')) === undefined);
  });

  it('a WebSocket and a long poll with one connection id: each is listed, and the one that stays is shown when the other closes', { timeout: 10_000 }, async () => {
    await fetch(`${url}/api/rooms/mixed`, { method: 'PUT' });
    const ws = await subscribed('mixed', 'name=cy&member=cy&connection=cy-c1');
    const joined = (await (await fetch(`${url}/api/rooms/mixed/presence?name=cy&member=cy&connection=cy-c1`, { method: 'POST' })).json()) as { session: string; connectionId: string };
    assert.equal(joined.connectionId, 'cy-c1');
    await (await fetch(`${url}/api/rooms/mixed/poll?session=${encodeURIComponent(joined.session)}&timeout=0&name=cy&member=cy&connection=cy-c1`)).arrayBuffer();
    await until('both transports listed', async () => (await transportsOf('mixed', 'cy'))?.length === 2);
    assert.deepEqual(await transportsOf('mixed', 'cy'), ['polling', 'websocket'].sort());
    ws.close();
    await ws.closed;
    await sleep(GRACE_MS * 2);
    assert.deepEqual(await transportsOf('mixed', 'cy'), ['polling'], 'the poller is still present, on its transport');
    // And the other way round: a WebSocket back with the id, then the poller leaves.
    const again = await subscribed('mixed', 'name=cy&member=cy&connection=cy-c1');
    await until('both again', async () => (await transportsOf('mixed', 'cy'))?.length === 2);
    await fetch(`${url}/api/rooms/mixed/presence?session=${encodeURIComponent(joined.session)}`, { method: 'DELETE' });
    await sleep(GRACE_MS * 2);
    assert.deepEqual(await transportsOf('mixed', 'cy'), ['websocket'], 'the WebSocket stays listed after the poller left');
    again.close();
  });
});

/**
 * The SDK keeps its connection id across a switch, and opens the new transport before it closes
 * the old one. On a keyed server the connection id is derived from the token's member and the
 * client's claim (DerivedIds.connection): the same on both transports too.
 */
for (const keyed of [false, true])
// The switches run at once (each in its own room): each waits out the grace, 3.5 s of idling apiece.
describe(`the SDK's transport switch in presence (${keyed ? 'keyed server: tokens' : 'open server'})`, { concurrency: true }, () => {
  // The default grace: the old transport, kept for it, would be listed 3 s beside the new one.
  const graceMs = 3000;
  let server: Switchboard;
  let url: string;
  const clients: Client[] = [];
  before(async () => {
    ({ server, url } = await startServer({ presenceGraceMs: graceMs, connectRatePerSecond: 10_000, subscribeRatePerSecond: 10_000, ...(keyed ? { jwtSecret: SECRET } : {}) }));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  const switches = [
    ['websocket', 'long-polling'],
    ['long-polling', 'sse'],
    // Both join presence as pollers (POST .../presence), with the client's one connection id.
    ['polling', 'long-polling'],
    ['long-polling', 'polling'],
  ] as const;
  for (const [from, to] of switches) {
    it(`from ${from} to ${to}: the member is shown on its new transport at once (not both for the grace), and never gone, past the grace too`, { timeout: 20_000 }, async () => {
      const room = `switch-${from}-to-${to}`;
      const as = async (member: string): Promise<{ name: string; member?: string; token?: string }> => (keyed ? { name: member, token: await mintToken(SECRET, { sub: member, name: member, rooms: { '*': ['read', 'write', 'create'] }, ttlSec: 600 }) } : { name: member, member });
      const ada = await connect({ url, ...FAST, room, create: true, ...(await as('ada')), transport: 'websocket' });
      const bob = await connect({ url, ...FAST, room, ...(await as('bob')), transport: from });
      clients.push(ada, bob);
      const bobInAda = () => ada.presence().find((m) => m.member === 'bob');
      await waitFor(() => JSON.stringify(bobInAda()?.transports) === JSON.stringify([from]), 3000, "bob in ada's list");
      let bobMissing = false;
      const watch = setInterval(() => (bobMissing ||= bobInAda() === undefined), 5);
      try {
        await bob.setTransport(to);
        const switched = Date.now();
        // A presence notice waits at most a notice gap (1 s) in a room that keeps changing: well within the grace.
        await waitFor(() => JSON.stringify(bobInAda()?.transports) === JSON.stringify([to]), graceMs / 2, `bob on ${to} only, in ada's list`);
        assert.ok(Date.now() - switched < graceMs / 2, 'shown on the new transport long before the grace ran out');
        const read = (await (await fetch(`${url}/api/rooms/${room}/presence`, keyed ? { headers: { authorization: `Bearer ${(await as('ada')).token}` } } : {})).json()) as { members: PresenceMember[] };
        assert.deepEqual(read.members.find((m) => m.member === 'bob')?.transports, [to], 'GET .../presence says the same');
        // Past the grace of the old transport (a long poll held meanwhile: no request keeps it present).
        await new Promise((r) => setTimeout(r, graceMs + 500));
        assert.deepEqual(bobInAda()?.transports, [to], 'and stays so');
      } finally {
        clearInterval(watch);
      }
      assert.equal(bobMissing, false, "bob never left ada's list");
      await bob.close();
    });
  }
});

/** Two nodes sharing Redis (no sticky sessions): the WebSocket on one, the long poll of the same connection id on the other. */
describe('one connection id on two nodes', { skip: await redisSkipReason('one connection id on two nodes') }, () => {
  const prefix = uniquePrefix();
  let nodes: Awaited<ReturnType<typeof startServer>>[] = [];
  before(async () => {
    nodes = await Promise.all([0, 1].map(() => startServer({ store: 'redis', redisUrl, redisPrefix: prefix, presenceGraceMs: GRACE_MS, connectRatePerSecond: 10_000, subscribeRatePerSecond: 10_000 })));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.server.close()));
    await deleteKeys(prefix);
  });

  it('closing the WebSocket on one node keeps the member, listed with its long poll on the other; its last transport still gets the grace', { timeout: 15_000 }, async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    await fetch(`${a.url}/api/rooms/nodes`, { method: 'PUT' });
    const transportsOf = async (node: typeof a) => ((await (await fetch(`${node.url}/api/rooms/nodes/presence`)).json()) as { members: PresenceMember[] }).members.find((m) => m.member === 'dee')?.transports.slice().sort();
    const ws = new WsProbe(`${a.url.replace('http', 'ws')}/api/ws?name=dee&member=dee&connection=dee-c1`);
    await ws.opened;
    ws.send({ type: 'subscribe', id: '1', room: 'nodes' });
    await ws.next('subscribed');
    const joined = (await (await fetch(`${b.url}/api/rooms/nodes/presence?name=dee&member=dee&connection=dee-c1`, { method: 'POST' })).json()) as { session: string };
    const deadline = Date.now() + 3000;
    while (JSON.stringify(await transportsOf(a)) !== '["polling","websocket"]') {
      assert.ok(Date.now() < deadline, 'both transports listed');
      await new Promise((r) => setTimeout(r, 20));
    }
    ws.close();
    await ws.closed;
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    assert.deepEqual(await transportsOf(a), ['polling'], 'the poller on the other node keeps dee present');
    await fetch(`${b.url}/api/rooms/nodes/presence?session=${encodeURIComponent(joined.session)}`, { method: 'DELETE' });
    await new Promise((r) => setTimeout(r, GRACE_MS / 10));
    assert.deepEqual(await transportsOf(b), ['polling'], 'its last transport: listed for the grace');
    const gone = Date.now() + GRACE_MS + 4000;
    while ((await transportsOf(a)) !== undefined) {
      assert.ok(Date.now() < gone, 'dee gone after the grace');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
