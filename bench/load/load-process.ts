/**
 * One client process of the load generator (forked by LoadCoordinator): opens its share of the
 * clients from its own loopback source addresses (see sourceAddress), at most `concurrency` connections opening at
 * once, then reports to the coordinator over IPC. Started only as a child with an IPC channel.
 */
import { BenchClient, newTally, type ClientSetup, type KindTally } from './bench-client.js';
import { checkDeliveries } from './delivery-check.js';
import { LongPollBenchClient, ShortPollBenchClient } from './long-poll-bench-client.js';
import type { ClientKind, FromClient, KindReport, LoadPlan, ToClient } from './messages.js';
import { SioBenchClient } from './sio-bench-client.js';
import { SseBenchClient } from './sse-bench-client.js';
import { WsBenchClient } from './ws-bench-client.js';

const makers: Record<ClientKind, new (setup: ClientSetup, tally: KindTally) => BenchClient> = {
  websocket: WsBenchClient,
  sse: SseBenchClient,
  'long-polling': LongPollBenchClient,
  polling: ShortPollBenchClient,
  sio: SioBenchClient,
};

/**
 * Clients per loopback source address. A real crowd comes from many addresses, and the server's
 * per-address budgets (requests waiting for their turn, connections, connects per second) are
 * sized for a household or an office, not for 15,000 clients behind one address: 10,000 long
 * polls from one address are refused there as one client's flood.
 */
const CLIENTS_PER_ADDRESS = 200;

/** The source address of client `n` of process `index`: 127.<index+1>.x.y, one per CLIENTS_PER_ADDRESS clients. */
function sourceAddress(index: number, n: number): string {
  const block = Math.floor(n / CLIENTS_PER_ADDRESS);
  return `127.${index + 1}.${Math.floor(block / 250)}.${(block % 250) + 2}`;
}

const send = (m: FromClient): void => void process.send!(m);
const clients: { kind: ClientKind; room: string; client: BenchClient }[] = [];
const tallies = new Map<ClientKind, KindTally>();

async function run(plan: LoadPlan): Promise<void> {
  let n = 0;
  for (const [kind, count] of Object.entries(plan.counts) as [ClientKind, number][]) {
    const tally = newTally(kind);
    tallies.set(kind, tally);
    for (let i = 0; i < count; i++, n++) {
      const room = plan.rooms[(plan.roomOffset + n) % plan.rooms.length]!;
      const name = `p${plan.index}-${n}`;
      const setup: ClientSetup = {
        baseUrl: plan.baseUrl,
        localAddress: sourceAddress(plan.index, n),
        room,
        name,
        member: plan.members === 'shared' ? `p${plan.index}` : name,
        longPollTimeoutMs: plan.longPollTimeoutMs,
        pollIntervalMs: plan.pollIntervalMs,
        ...(plan.reconnectMs !== undefined ? { reconnectMs: plan.reconnectMs } : {}),
        ...(plan.cut ? { cut: plan.cut } : {}),
      };
      clients.push({ kind, room, client: new makers[kind](setup, tally) });
    }
  }
  let connected = 0;
  let failed = 0;
  const firstStart = performance.timeOrigin + performance.now();
  let lastConnected = firstStart;
  const progress = setInterval(() => send({ type: 'progress', connected, failed }), 1000);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < clients.length) {
      const c = clients[next++]!;
      if (await c.client.start()) {
        connected++;
        lastConnected = performance.timeOrigin + performance.now();
      } else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, clients.length) }, worker));
  clearInterval(progress);
  send({ type: 'connected', at: performance.timeOrigin + performance.now(), firstStart, lastConnected, failed });
}

function report(expected: Record<string, number[]>): KindReport[] {
  const reports: KindReport[] = [];
  for (const [kind, tally] of tallies) {
    const mine = clients.filter((c) => c.kind === kind);
    const check = checkDeliveries(
      mine.filter((c) => c.client.everConnected).map((c) => ({ name: `${kind} ${c.room} [${c.client.state()}]`, seqs: c.client.seqs, expected: expected[c.room] ?? [] })),
    );
    reports.push({
      kind,
      clients: mine.length,
      connected: mine.filter((c) => c.client.connected).length,
      connectMs: Float64Array.from(tally.connectMs),
      latencyMs: Float64Array.from(tally.latencyMs),
      sentMs: Float64Array.from(tally.sentMs),
      replayMs: Float64Array.from(tally.replayMs),
      catchUpMs: Float64Array.from(tally.catchUpMs),
      reconnectMs: Float64Array.from(tally.reconnectMs),
      deliveries: tally.deliveries,
      lastDeliveryAt: tally.lastDeliveryAt,
      ...check,
      down: mine.filter((c) => !c.client.connected).length,
      cuts: tally.cuts,
      errors: Object.fromEntries(tally.errors),
    });
  }
  return reports;
}

/** The wait of awaitNoneBehind in progress: it ends the last one (answered as it stands). */
let endWait: (() => void) | undefined;

/**
 * Answers `behind` with the clients (ever connected) whose last message is before their room's
 * `last`, once there are none or `waitMs` passed: one scan, then a count kept down by the clients'
 * deliveries (BenchClient.onCaughtUp), not a scan per question.
 */
function awaitNoneBehind(last: Record<string, number>, waitMs: number): void {
  endWait?.();
  let behind = 0;
  for (const c of clients) {
    const target = last[c.room] ?? 0;
    if (c.client.everConnected && (c.client.seqs.at(-1) ?? 0) < target) {
      c.client.awaitSeq = target;
      behind++;
    } else c.client.awaitSeq = undefined;
  }
  let timer: NodeJS.Timeout | undefined;
  const answer = (): void => {
    clearTimeout(timer);
    BenchClient.onCaughtUp = undefined;
    endWait = undefined;
    let left = 0;
    for (const c of clients) {
      if (c.client.awaitSeq !== undefined) left++;
      c.client.awaitSeq = undefined;
    }
    send({ type: 'behind', clients: left });
  };
  if (behind === 0 || waitMs <= 0) {
    answer();
    return;
  }
  timer = setTimeout(answer, waitMs);
  endWait = answer;
  BenchClient.onCaughtUp = () => {
    if (--behind === 0) answer();
  };
}

process.on('message', (m: ToClient) => {
  if (m.type === 'plan') run(m.plan).catch((err: unknown) => send({ type: 'fatal', message: String(err) }));
  else if (m.type === 'jitter') for (const c of clients) c.client.startCutting();
  else if (m.type === 'calm') for (const c of clients) c.client.stopCutting();
  else if (m.type === 'check') send({ type: 'report', kinds: report(m.expected) });
  else if (m.type === 'behind') awaitNoneBehind(m.last, m.waitMs);
  else if (m.type === 'notices') {
    let count = 0;
    let lastAt = 0;
    for (const t of tallies.values()) {
      count += t.notices;
      lastAt = Math.max(lastAt, t.lastNoticeAt);
    }
    send({ type: 'notices', count, lastAt });
  } else if (m.type === 'close') {
    for (const c of clients) c.client.close();
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
