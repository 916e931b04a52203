/**
 * Everything Redis-backed through Redis Sentinel (`redis-sentinel://` URLs), on a real master,
 * replica and sentinel started for this file from the machine's redis-server
 * (test/helpers/redis-sentinel.ts): the store, broker and presence contracts, the three-node
 * suite, and a failover under two nodes with clients on every transport and publishers that
 * retry what was refused: nothing acknowledged is lost or doubled, every client gets all of it,
 * and the nodes follow the new master by themselves. And a master with two replicas: a node
 * that waits for one only warns at start, naming the master (such a failover can lose writes:
 * docs/operations.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hasAll, logProblem, readLog, sleep } from './fixtures/log-clients.js';
import { publishHttp, type PublishOutcome } from './fixtures/publishers.js';
import { clientsOnTwoNodes } from './fixtures/two-node-clients.js';
import { redisContracts, redisStoreContract } from './fixtures/redis-contracts.js';
import { threeNodesSuite } from './fixtures/three-nodes-suite.js';
import { captureLogs, request, startServer, waitFor } from './helpers.js';
import { privateRedisSkipReason } from './helpers/private-redis.js';
import { RedisSentinel } from './helpers/redis-sentinel.js';
import { uniquePrefix } from './helpers/redis-probe.js';
import { RedisStore } from '../src/server/store/redis-store.js';

const skip = privateRedisSkipReason('the Redis Sentinel suites (test/redis-sentinel.test.ts)');

// Keys need no cleanup: the deployment is this file's own, and goes with its folder.
const nothing = async (): Promise<void> => {};

type Node = Awaited<ReturnType<typeof startServer>>;

describe('through Redis Sentinel (a master, its replica, a sentinel)', { skip, timeout: 120_000 }, () => {
  let sentinel: RedisSentinel | undefined;
  const url = (): string => sentinel!.url;

  before(async () => {
    sentinel = await RedisSentinel.start();
  });
  after(async () => {
    await sentinel?.stop();
  });

  redisContracts('redis sentinel', url);
  // Every write confirmed by the replica, every read of a newer entry too (the confirmed mark).
  redisStoreContract('redis sentinel, replicas 1', url, { replicas: 1 });

  threeNodesSuite('Redis Sentinel', url, uniquePrefix(), nothing);

  it('a failover under two nodes that wait for a replica (--redis-replicas 1): publishes refused meanwhile (STORE_UNAVAILABLE), none acknowledged lost or doubled, every client gets everything, the nodes follow the new master', async (t) => {
    // Acknowledged once a replica has it too: what a failover promotes holds every acknowledged write.
    const options = { store: 'redis' as const, redisUrl: url(), redisPrefix: uniquePrefix(), redisReplicas: 1, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 };
    const nodes: Node[] = await Promise.all([startServer(options), startServer(options)]);
    t.after(() => Promise.all(nodes.map((n) => n.server.close())));
    const [a, b] = nodes as [Node, Node];
    const room = 'failover';
    // Live clients get what the broker hands on, confirmed on the replica first; pollers read the
    // store, which gives them only entries the replica confirmed (the confirmed mark), so none
    // reads an entry the failover then takes back (stored on the old master, refused for want of
    // its replica) and misses the one that gets its seq on the new master.
    const { start, followers, wsA, wsB } = await clientsOnTwoNodes(t, a, b, room, { requestTimeoutMs: 3000 });

    // Three publishers that retry a refused publish with the same clientId until it is acked.
    let stopping = false;
    // A test that fails half-way ends its publishers too: their retries would otherwise go on
    // against closed nodes forever, and the file's process never exit (CI hung so once).
    let ended = false;
    t.after(() => {
      ended = true;
      stopping = true;
    });
    const acked = new Map<string, number>();
    const refused: string[] = [];
    const loop = async (name: string, send: (clientId: string, k: number) => Promise<PublishOutcome>): Promise<void> => {
      for (let k = 0; !stopping; k++) {
        const clientId = `${name}-${k}`;
        for (;;) {
          const o = await send(clientId, k);
          if (o.ok) {
            acked.set(clientId, o.ack.seq);
            break;
          }
          refused.push(`${o.code}${o.status !== undefined ? ` ${o.status}` : ''}`);
          if (ended) return;
          await sleep(50);
        }
        await sleep(15);
      }
    };
    const loops = [
      loop('http', (id, k) => publishHttp(nodes[k % 2]!.url, room, `text ${id}`, id)),
      loop('ws-a', (id) => wsA.publish(room, `text ${id}`, id)),
      loop('ws-b', (id) => wsB.publish(room, `text ${id}`, id)),
    ];

    await waitFor(() => acked.size >= 30, 10_000, 'publishing before the failover');
    const oldMaster = await sentinel!.masterPort();
    const newMaster = await sentinel!.failover();
    assert.notEqual(newMaster, oldMaster);
    const ackedAtFailover = acked.size;
    await waitFor(() => acked.size >= ackedAtFailover + 30, 20_000, 'publishing to go on after the failover');
    for (const node of nodes) assert.equal((await request(`${node.url}/readyz`)).status, 200, '/readyz: ready on the new master');
    stopping = true;
    await Promise.all(loops);

    for (const code of new Set(refused)) assert.match(code, /^STORE_UNAVAILABLE( 503)?$/, 'what is refused meanwhile is STORE_UNAVAILABLE (HTTP 503, or an error frame)');
    // The log on the new master: every acknowledged message, with the seq it was acked with, each once.
    const log = await readLog(b.url, room, start);
    const messages = log.filter((e) => e.type === 'message');
    const ids = messages.map((e) => e.clientId!);
    assert.equal(new Set(ids).size, ids.length, 'no message stored twice, retries included');
    assert.deepEqual(new Set(ids), new Set(acked.keys()), 'the log holds exactly the acknowledged messages');
    for (const e of messages) assert.equal(acked.get(e.clientId!), e.seq);

    await waitFor(() => followers.every((f) => hasAll(f, acked)), 15_000, 'every client to get every acknowledged message').catch((err: unknown) => {
      for (const f of followers) if (!hasAll(f, acked)) console.error(logProblem(f, acked));
      throw err;
    });
    for (const f of followers) assert.equal(logProblem(f, acked), undefined);

    // Both nodes' connections are on the new master: a publish through each is acknowledged at once.
    for (const node of nodes) {
      const o = await publishHttp(node.url, room, 'after', `after-${node.port}`);
      assert.ok(o.ok, o.ok ? '' : o.code);
    }
  });
});

describe('through Redis Sentinel, a master with two replicas', { skip, timeout: 60_000 }, () => {
  let sentinel: RedisSentinel | undefined;

  before(async () => {
    sentinel = await RedisSentinel.start(2);
  });
  after(async () => {
    await sentinel?.stop();
  });

  it('a node started with --redis-replicas 1 warns that the master has 2 replicas, naming the master the sentinel gives; with 2 it does not', async () => {
    const warned = async (replicas: number): Promise<Record<string, unknown>[]> => {
      const { logger, lines } = captureLogs('warn');
      const node = await startServer({ store: 'redis', redisUrl: sentinel!.url, redisPrefix: uniquePrefix(), redisReplicas: replicas, logger });
      await node.server.close();
      return lines.filter((l) => /a failover that promotes another can lose it/.test(String(l.msg)));
    };
    const one = await warned(1);
    assert.deepEqual(one.map((l) => [l.master, l.replicas, l.redisReplicas]), [[`127.0.0.1:${await sentinel!.masterPort()}`, 2, 1]]);
    assert.deepEqual(await warned(2), []);
  });
});
