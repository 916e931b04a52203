import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, waitFor, WsProbe } from './helpers.js';
import type { Switchboard } from '../src/server/server.js';

const RATE = 8; // members a second the node's notices may go to
const ROOMS = ['storm-a', 'storm-b', 'storm-c', 'storm-d'];
const JOINERS = 6; // per room, one every 250 ms

describe('presence notices within --presence-notice-rate', () => {
  let server: Switchboard;
  let url: string;
  const probes: WsProbe[] = [];
  before(async () => {
    ({ server, url } = await startServer({ presenceNoticeRate: RATE, connectRatePerSecond: 10_000, subscribeRatePerSecond: 10_000, maxConnectionsPerAddress: 1000 }));
    for (const room of ROOMS) await fetch(`${url}/api/rooms/${room}`, { method: 'PUT' });
  });
  after(async () => {
    for (const p of probes) p.close();
    await server.close();
  });

  async function join(room: string, member: string): Promise<WsProbe> {
    const probe = new WsProbe(`${url.replace('http', 'ws')}/api/ws?name=${member}&member=${member}`);
    probes.push(probe);
    await probe.opened;
    probe.send({ type: 'subscribe', room });
    await probe.next('subscribed');
    return probe;
  }

  it('a storm of arrivals over several rooms: the notices go to no more members a second than the rate, and the last ones carry every arrival', { timeout: 30_000 }, async () => {
    const watchers = await Promise.all(ROOMS.map((room, i) => join(room, `watcher-${i}`)));
    await new Promise((r) => setTimeout(r, 300)); // the watchers' own arrivals are told before the storm
    const from = watchers.map((w) => w.of('presence').length);
    const started = performance.now();
    for (let j = 0; j < JOINERS; j++) {
      await Promise.all(ROOMS.map((room, i) => join(room, `joiner-${i}-${j}`)));
      await new Promise((r) => setTimeout(r, 250));
    }
    // Every watcher is told of every arrival in the end: nothing is dropped, only gathered.
    const everyone = (i: number): boolean => {
      const last = watchers[i]!.of('presence').at(-1) as { count?: number; members?: unknown[] } | undefined;
      return last !== undefined && (last.count ?? last.members?.length) === JOINERS + 1;
    };
    await waitFor(() => ROOMS.every((_, i) => everyone(i)), 20_000, 'the notices of every arrival');
    const seconds = (performance.now() - started) / 1000;
    const notices = watchers.flatMap((w, i) => w.of('presence').slice(from[i]) as { count?: number; members?: unknown[] }[]);
    const members = notices.reduce((sum, n) => sum + (n.count ?? n.members?.length ?? 0), 0);
    // The budget (RATE a second, RATE saved up) and one notice's overdraft; without it, each room
    // tells its members about once a second of the storm: some 4 rooms × 2-3 notices × 2-7 members.
    const allowed = RATE + RATE * seconds + JOINERS + 1;
    assert.ok(members <= allowed, `${notices.length} notices to ${members} members in ${seconds.toFixed(1)} s; the rate allows ${allowed.toFixed(0)}`);
    // Gathered: fewer notices than a second each would make, each with several arrivals.
    assert.ok(notices.length < ROOMS.length * JOINERS, `${notices.length} notices for ${ROOMS.length * JOINERS} arrivals`);
  });
});
