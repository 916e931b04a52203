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
 * polls from one address are refused there as one client's flood. BENCH_CLIENTS_PER_ADDRESS
 * sets another (fewer: a crowd of more addresses).
 */
const CLIENTS_PER_ADDRESS = clientsPerAddress(process.env.BENCH_CLIENTS_PER_ADDRESS);

function clientsPerAddress(given: string | undefined): number {
  if (given === undefined || given === '') return 200;
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CLIENTS_PER_ADDRESS must be a whole number of 1 or more, not ${JSON.stringify(given)}`);
  return n;
}

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

/** The wait of awaitSettled in progress: a new one answers it first (as it stands). */
let endWait: (() => void) | undefined;

/**
 * Answers `behind` with the clients (ever connected) whose last message is before their room's
 * `last`, once every such client is up and has it, or once `waitMs` passed: one scan, then the
 * clients left are checked off as they come up or get their message (BenchClient.onProgress),
 * not a scan per question. Up too: a client cut while it had everything is not behind, but the
 * run's check counts it down if it is still reconnecting then.
 */
function awaitSettled(last: Record<string, number>, waitMs: number): void {
  endWait?.();
  const waiting = new Set<BenchClient>();
  for (const { client, room } of clients) {
    const target = last[room] ?? 0;
    client.awaitSeq = (client.seqs.at(-1) ?? 0) < target ? target : undefined;
    if (client.everConnected && (client.awaitSeq !== undefined || !client.connected)) waiting.add(client);
  }
  let timer: NodeJS.Timeout | undefined;
  const answer = (): void => {
    clearTimeout(timer);
    BenchClient.onProgress = undefined;
    endWait = undefined;
    let behind = 0;
    for (const { client } of clients) {
      if (client.everConnected && client.awaitSeq !== undefined) behind++;
      client.awaitSeq = undefined;
    }
    send({ type: 'behind', clients: behind });
  };
  if (waiting.size === 0 || waitMs <= 0) {
    answer();
    return;
  }
  timer = setTimeout(answer, waitMs);
  endWait = answer;
  BenchClient.onProgress = (client) => {
    if (client.connected && client.awaitSeq === undefined && waiting.delete(client) && waiting.size === 0) answer();
  };
}

process.on('message', (m: ToClient) => {
  if (m.type === 'plan') run(m.plan).catch((err: unknown) => send({ type: 'fatal', message: String(err) }));
  else if (m.type === 'jitter') for (const c of clients) c.client.startCutting();
  else if (m.type === 'calm') for (const c of clients) c.client.stopCutting();
  else if (m.type === 'check') send({ type: 'report', kinds: report(m.expected) });
  else if (m.type === 'behind') awaitSettled(m.last, m.waitMs);
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
