/**
 * Three Switchboard nodes on one Redis (store, broker and presence shared), in this process.
 * Clients on different nodes and transports must see one log: the same entries, in the same
 * order, each exactly once, whatever node a publish went through and whatever node each of a
 * poller's requests lands on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Entry, PollResult, PresenceMember } from '../src/protocol/types.js';
import { PollFollower, SseFollower, SseParser, WsFollower, getJson, hasAll, logProblem, sleep, type LogFollower, type SseEventRecord } from './fixtures/log-clients.js';
import { publishHttp, WsPublisher, type PublishOutcome } from './fixtures/publishers.js';
import { postJson, request, startServer, waitFor } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';
import http from 'node:http';

const skip = await redisSkipReason('the cluster suite (test/cluster.test.ts)');

type Node = Awaited<ReturnType<typeof startServer>>;

/** The whole log of a room after `start`, read from the store through `base`. */
async function readLog(base: string, room: string, start: string): Promise<Entry[]> {
  const out: Entry[] = [];
  let cursor = start;
  for (;;) {
    const page = (await getJson(`${base}/api/rooms/${room}/poll?after=${cursor}&limit=500`)) as PollResult;
    out.push(...page.entries);
    cursor = page.cursor;
    if (!page.more) return out;
  }
}

function cookieOf(answer: { headers: http.IncomingHttpHeaders }): string {
  return (answer.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
}

describe('three nodes on one Redis', { skip, timeout: 50_000 }, () => {
  const prefix = uniquePrefix();
  let nodes: Node[] = [];

  before(async () => {
    nodes = await Promise.all(
      [0, 1, 2].map(() => startServer({ store: 'redis', redisUrl, redisPrefix: prefix, rateLimitPerSecond: 100_000, rateLimitBurst: 100_000, presenceGraceMs: 300, presenceEntries: true })),
    );
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.server.close()));
    await deleteKeys(prefix);
  });

  it('clients on every node and transport see one ordered log, each message once, while publishers on every node publish at once', async (t) => {
    const room = 'mix';
    await request(`${nodes[0]!.url}/api/rooms/${room}`, { method: 'PUT' });
    const start = ((await getJson(`${nodes[1]!.url}/api/rooms/${room}/poll`)) as PollResult).cursor;

    const followers: LogFollower[] = [];
    const pollers: PollFollower[] = [];
    for (const [i, node] of nodes.entries()) {
      const ws = new WsFollower(`ws${i}`, room, start);
      await ws.connect(node.url);
      const sse = new SseFollower(`sse${i}`, room, start);
      await sse.connect(node.url);
      pollers.push(new PollFollower(`longpoll${i}`, room, start, 'longpoll', () => node.url).start());
      pollers.push(new PollFollower(`poll${i}`, room, start, 'poll', () => node.url, { intervalMs: 30 }).start());
      followers.push(ws, sse);
    }
    t.after(async () => {
      for (const p of pollers) await p.stop();
      for (const f of followers) f.close();
    });
    // Pollers behind a load balancer with no stickiness: every request goes to the next node.
    pollers.push(new PollFollower('poll-alternating', room, start, 'poll', (n) => nodes[n % 3]!.url, { intervalMs: 20 }).start());
    pollers.push(new PollFollower('longpoll-alternating', room, start, 'longpoll', (n) => nodes[n % 3]!.url, { timeoutMs: 300 }).start());
    followers.push(...pollers);

    // Six publishers, a WebSocket one and an HTTP one per node, all at once.
    const perPublisher = 40;
    const acked = new Map<string, number>();
    const failures: string[] = [];
    const record = (clientId: string, o: PublishOutcome): void => {
      if (o.ok) acked.set(clientId, o.ack.seq);
      else failures.push(`${clientId}: ${o.code}`);
    };
    const wsPublishers = await Promise.all(nodes.map((n, i) => WsPublisher.open(n.url, `wspub${i}`)));
    t.after(() => wsPublishers.forEach((p) => p.close()));
    await Promise.all(
      nodes.flatMap((node, i) => [
        (async () => {
          for (let k = 0; k < perPublisher; k++) record(`ws${i}-${k}`, await wsPublishers[i]!.publish(room, `ws ${i} ${k}`, `ws${i}-${k}`));
        })(),
        (async () => {
          for (let k = 0; k < perPublisher; k++) record(`http${i}-${k}`, await publishHttp(node.url, room, `http ${i} ${k}`, `http${i}-${k}`));
        })(),
      ]),
    );
    assert.deepEqual(failures, []);
    assert.equal(acked.size, 6 * perPublisher);
    assert.equal(new Set(acked.values()).size, acked.size, 'every publish got its own seq');

    await waitFor(() => followers.every((f) => hasAll(f, acked)), 15_000, 'every follower to get every message').catch(() => {
      for (const f of followers) if (!hasAll(f, acked)) console.error(logProblem(f, acked));
    });
    for (const p of pollers) await p.stop();

    const log = await readLog(nodes[2]!.url, room, start);
    const logSeqs = log.map((e) => e.seq);
    const startSeq = Number(start.split(':')[1]);
    assert.deepEqual(logSeqs, logSeqs.map((_, i) => startSeq + 1 + i), 'the stored log has no gap');
    for (const f of followers) {
      assert.equal(logProblem(f, acked), undefined);
      // Each follower saw a prefix of the one stored log: same seqs, same entries, same order.
      const seen = f.entries.map((e) => `${e.seq}/${e.type}/${(e.type === 'message' ? e.clientId : undefined) ?? e.from.id}`);
      const expected = log.slice(0, seen.length).map((e) => `${e.seq}/${e.type}/${(e.type === 'message' ? e.clientId : undefined) ?? e.from.id}`);
      assert.deepEqual(seen, expected, `${f.name} saw the stored log in order`);
    }
    const alternating = pollers.filter((p) => p.name.endsWith('alternating'));
    for (const p of alternating) assert.ok(p.requests >= 6, `${p.name} made ${p.requests} requests over every node`);
  });

  it('presence: a member connected on two nodes appears once; its join and its leave are written once', async (t) => {
    const room = 'pres';
    await request(`${nodes[2]!.url}/api/rooms/${room}`, { method: 'PUT' });
    const start = ((await getJson(`${nodes[2]!.url}/api/rooms/${room}/poll`)) as PollResult).cursor;
    const watcher = new WsFollower('watcher', room, start);
    const annWs = new WsFollower('ann', room, start);
    const annSse = new SseFollower('ann', room, start);
    // A polling member whose requests alternate between nodes: one member, one join.
    const bob = new PollFollower('bob', room, start, 'poll', (n) => nodes[n % 3]!.url, { intervalMs: 30, connection: 'bob-poll', member: 'bob' });
    t.after(async () => {
      await bob.stop();
      for (const f of [watcher, annWs, annSse]) f.close();
    });
    await watcher.connect(nodes[2]!.url, '&member=watcher');
    await annWs.connect(nodes[0]!.url, '&member=ann&connection=ann-ws');
    await annSse.connect(nodes[1]!.url, '&member=ann&connection=ann-sse');
    bob.start();

    const joinsOf = (member: string): Entry[] => watcher.entries.filter((e) => e.type === 'join' && e.from.member === member);
    const leavesOf = (member: string): Entry[] => watcher.entries.filter((e) => e.type === 'leave' && e.from.member === member);
    await waitFor(() => joinsOf('ann').length >= 1 && joinsOf('bob').length >= 1 && bob.requests >= 6, 5000, 'joins');
    await sleep(300);
    for (const node of nodes) {
      const { members } = (await getJson(`${node.url}/api/rooms/${room}/presence`)) as { members: PresenceMember[] };
      const ann = members.filter((m) => m.member === 'ann');
      assert.equal(ann.length, 1, 'ann is listed once');
      assert.deepEqual([...ann[0]!.transports].sort(), ['sse', 'websocket']);
      assert.equal(members.filter((m) => m.member === 'bob').length, 1, 'bob is listed once');
    }

    annWs.close();
    await sleep(800); // past the grace period: the SSE connection on node 1 keeps ann present
    assert.equal(leavesOf('ann').length, 0, 'no leave while another node still holds a connection');
    const still = (await getJson(`${nodes[2]!.url}/api/rooms/${room}/presence`)) as { members: PresenceMember[] };
    assert.deepEqual(still.members.find((m) => m.member === 'ann')?.transports, ['sse']);

    annSse.close();
    await waitFor(() => leavesOf('ann').length >= 1, 5000, 'ann to leave');
    await sleep(500);
    const log = await readLog(nodes[0]!.url, room, start);
    const count = (type: string, member: string): number => log.filter((e) => e.type === type && e.from.member === member).length;
    assert.equal(count('join', 'ann'), 1, 'one join for ann in the log');
    assert.equal(count('leave', 'ann'), 1, 'one leave for ann in the log');
    assert.equal(count('join', 'bob'), 1, 'one join for bob in the log');
    assert.equal(joinsOf('ann').length, 1);
    assert.equal(leavesOf('ann').length, 1);
  });

  it("the lecture's routes work across nodes: the /poll and /longpoll cookie and /subscribe's Last-Event-ID", async (t) => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const first = await request(`${a.url}/poll`);
    assert.equal(first.status, 204);
    let cookie = cookieOf(first);
    assert.match(decodeURIComponent(cookie), /^sb_seed=[A-Za-z0-9_-]+:\d+$/);
    for (const [node, text] of [[b, 'l1'], [c, 'l2'], [a, 'l3']] as const) {
      assert.equal((await postJson(`${node.url}/update`, { text })).status, 200);
    }
    // The cookie made on node A moves from node to node; one message per answer, none lost.
    const got: string[] = [];
    for (const node of [b, c, a, b]) {
      const answer = await request(`${node.url}/poll`, { headers: { cookie } });
      cookie = cookieOf(answer);
      if (answer.status === 200) got.push((answer.json() as { text: string }).text);
      else assert.equal(answer.status, 204);
    }
    assert.deepEqual(got, ['l1', 'l2', 'l3']);

    const held = request(`${c.url}/longpoll`, { headers: { cookie } });
    await sleep(200);
    await postJson(`${a.url}/update`, { text: 'l4' });
    const woken = await held;
    assert.equal(woken.status, 200);
    assert.equal((woken.json() as { text: string }).text, 'l4');

    // /subscribe on A, then resume on B with the last id A gave.
    const events: SseEventRecord[] = [];
    const streams: http.ClientRequest[] = [];
    t.after(() => streams.forEach((r) => r.destroy()));
    const open = (base: string, lastId?: string): http.ClientRequest => {
      const req = http.get(`${base}/subscribe`, { agent: false, headers: lastId ? { 'last-event-id': lastId } : {} }, (res) => {
        res.setEncoding('utf8');
        const parser = new SseParser((e) => events.push(e));
        res.on('data', (chunk: string) => parser.push(chunk));
      });
      streams.push(req);
      return req;
    };
    const first1 = open(a.url);
    await sleep(200);
    await postJson(`${b.url}/update`, { text: 's1' });
    await postJson(`${c.url}/update`, { text: 's2' });
    await waitFor(() => events.length >= 2, 5000, '/subscribe on A to get s1 and s2');
    first1.destroy();
    const lastId = events[events.length - 1]!.id!;
    await postJson(`${c.url}/update`, { text: 's3' });
    await postJson(`${a.url}/update`, { text: 's4' });
    const second = open(b.url, lastId);
    await waitFor(() => events.length >= 4, 5000, '/subscribe on B to resume');
    await sleep(200);
    second.destroy();
    assert.deepEqual(
      events.map((e) => (JSON.parse(e.data) as { text: string }).text),
      ['s1', 's2', 's3', 's4'],
    );
    const ids = events.map((e) => Number(e.id!.split(':')[1]));
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'ids ascend');
  });
});
