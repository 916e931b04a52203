/**
 * Fan-out only where it is needed, in figures (`npx tsx bench/room-interest.ts`):
 *
 *  (a) Broker messages each of two Redis-backed nodes receives when each serves its own rooms
 *      (ROOMS rooms with a WebSocket subscriber on node A, as many on node B, MESSAGES messages
 *      published to each room, alternately through both nodes): with per-room interest (now),
 *      and with every node listening to every room, as the one shared channel made it before.
 *  (b) Room channels one node holds after its clients touched TOUCHED rooms and left, and after
 *      the channel idle time (IDLE_MS) went by.
 *
 * Redis: REDIS_URL (default redis://127.0.0.1:6379, or a redis-cluster:// URL). Keys use a
 * prefix of their own and are deleted afterwards (one server only). In-process nodes.
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { Broker, BrokerMessage } from '../src/server/broker/broker.js';
import { RedisBroker } from '../src/server/broker/redis-broker.js';
import { createSwitchboard, type Switchboard } from '../src/server/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOMS = Number(process.env.ROOMS ?? 10);
const MESSAGES = Number(process.env.MESSAGES ?? 50);
const TOUCHED = Number(process.env.TOUCHED ?? 500);
const IDLE_MS = Number(process.env.IDLE_MS ?? 1000);

/** Counts what the inner broker hands to the hub; with `everyRoom`, watches every room named in `rooms` too. */
function counting(inner: RedisBroker, everyRoom: string[] | undefined): Broker & { received: number } {
  const b = {
    kind: inner.kind,
    received: 0,
    init: async () => {
      await inner.init();
      for (const room of everyRoom ?? []) await inner.watch(room);
    },
    publish: (m: BrokerMessage) => inner.publish(m),
    onMessage: (h: (m: BrokerMessage) => void) =>
      inner.onMessage((m) => {
        b.received++;
        h(m);
      }),
    onReconnect: (h: () => void) => inner.onReconnect(h),
    watch: (room: string) => inner.watch(room),
    unwatch: (room: string) => inner.unwatch(room),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return b;
}

async function node(prefix: string, broker: Broker, channelIdleMs = 30_000): Promise<{ server: Switchboard; url: string }> {
  const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'redis', redisUrl: REDIS_URL, redisPrefix: prefix, broker, logLevel: 'silent', channelIdleMs, rateLimitPerSecond: 1e6, rateLimitBurst: 1e6, createRatePerSecond: 1e6, roomsPerDay: 1e8, connectRatePerSecond: 1e6, subscribeRatePerSecond: 1e6, maxRooms: 100_000, maxConnectionsPerAddress: 100_000, maxConnectionsPerMember: 100_000 });
  const port = await server.listen();
  return { server, url: `http://127.0.0.1:${port}` };
}

async function subscribe(url: string, room: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/ws?name=bench`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', room, create: true })));
    ws.on('message', (d) => {
      if ((JSON.parse(String(d)) as { type: string }).type === 'subscribed') resolve();
    });
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed ${code} before subscribed`)));
  });
  return ws;
}

async function post(url: string, room: string, text: string): Promise<void> {
  const res = await fetch(`${url}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  if (res.status !== 201) throw new Error(`publish: ${res.status}`);
}

async function cleanup(prefix: string): Promise<void> {
  if (!REDIS_URL.startsWith('redis://')) return;
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

async function fanOut(everyRoom: boolean): Promise<[number, number]> {
  const prefix = `sbbench:${process.pid}:${Date.now()}:`;
  const roomsA = Array.from({ length: ROOMS }, (_, i) => `a-${i}`);
  const roomsB = Array.from({ length: ROOMS }, (_, i) => `b-${i}`);
  const all = [...roomsA, ...roomsB];
  const brokers = [0, 1].map(() => counting(new RedisBroker({ url: REDIS_URL, prefix }), everyRoom ? all : undefined));
  const nodes = [await node(prefix, brokers[0]!), await node(prefix, brokers[1]!)];
  const sockets = [...(await Promise.all(roomsA.map((r) => subscribe(nodes[0]!.url, r)))), ...(await Promise.all(roomsB.map((r) => subscribe(nodes[1]!.url, r))))];
  await new Promise((r) => setTimeout(r, 300));
  for (const b of brokers) b.received = 0;
  for (let i = 0; i < MESSAGES; i++) await Promise.all(all.map((room, k) => post(nodes[(i + k) % 2]!.url, room, `m${i}`)));
  await new Promise((r) => setTimeout(r, 500));
  const counts: [number, number] = [brokers[0]!.received, brokers[1]!.received];
  for (const ws of sockets) ws.close();
  await Promise.all(nodes.map((n) => n.server.close()));
  await cleanup(prefix);
  return counts;
}

async function eviction(): Promise<[number, number, number]> {
  const prefix = `sbbench:${process.pid}:${Date.now()}:`;
  const inner = new RedisBroker({ url: REDIS_URL, prefix });
  const n = await node(prefix, counting(inner, undefined), IDLE_MS);
  // Every socket stays open until all rooms were touched: the peak is then every room.
  const open: WebSocket[] = [];
  for (let i = 0; i < TOUCHED; i += 50) open.push(...(await Promise.all(Array.from({ length: Math.min(50, TOUCHED - i) }, (_, k) => subscribe(n.url, `t-${i + k}`)))));
  await new Promise((r) => setTimeout(r, 200));
  const touched = n.server.hub.channelCount;
  for (const ws of open) ws.close();
  await new Promise((r) => setTimeout(r, IDLE_MS * 2 + 200));
  const after = n.server.hub.channelCount;
  const watched = inner.watchedRooms;
  await n.server.close();
  await cleanup(prefix);
  return [touched, after, watched];
}

const now = await fanOut(false);
const before = await fanOut(true);
const published = 2 * ROOMS * MESSAGES;
console.log(`(a) ${published} messages published to ${2 * ROOMS} rooms (${ROOMS} served by each node), ${REDIS_URL.split(':')[0]}`);
console.log(`    per-room interest (now):            node A received ${now[0]}, node B ${now[1]} broker messages`);
console.log(`    every node hears every room (before): node A received ${before[0]}, node B ${before[1]}`);
const [touched, after, watched] = await eviction();
console.log(`(b) channels held while ${TOUCHED} rooms have a subscriber: ${touched}; all clients gone, ${IDLE_MS * 2 + 200} ms later (idle time ${IDLE_MS} ms): ${after} channels, ${watched} rooms watched`);
