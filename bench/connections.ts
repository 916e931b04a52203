/**
 * `npm run bench:connections`: many concurrent connections on one machine, from the
 * multi-process load generator (bench/load/), against Switchboard's built CLI.
 *
 * For each room count in --rooms: starts the server (with the load-friendly caps of
 * bench/load/server-under-test.ts, then --server-args), creates the rooms, connects
 * --websocket / --sse / --long-polling clients spread over them, and reports: connect rate,
 * RSS of the server's whole process tree before and after (per connection), the presence
 * notices of the connect burst (waited for, up to --settle-ms), its idle CPU over --idle-seconds
 * and its RSS after them, then --broadcasts rounds of one message to every room, each alone (a round
 * starts once the last one is delivered to every client and the machine is quiet again, at least
 * --gap-ms after it; --fixed-gap: one every --gap-ms whatever the last one's state, a sustained
 * rate), after --warmup rounds if asked (run, checked and printed apart, not in the headline),
 * with the delivery latency p50/p99, each round's too, and a check that every client got every message once,
 * in order, and the CPU time each broadcast cost the server and the load generator (both on this
 * machine's cores: their sum over the cores is the least time in which all the work a broadcast
 * makes can be done, the long pollers' next requests included).
 *
 *   npm run bench:connections -- --websocket 30000 --sse 10000 --long-polling 10000 --rooms 1,1000 --server-args "--workers 4"
 *
 * Defaults are the size one process holds today (5,000 + 2,500 + 2,500).
 */
import { parseArgs } from 'node:util';
import { LoadCoordinator } from './load/load-coordinator.js';
import type { ClientKind } from './load/messages.js';
import { Publisher, createRooms } from './load/publisher.js';
import { describeYardstick, measureYardstick } from './load/yardstick.js';
import { saveResult } from './load/results.js';
import { availableParallelism } from 'node:os';
import { cpuMsOf, rssFileOf, rssOf, systemMsOf, threadMsOf } from './load/proc-stats.js';
import { ServerUnderTest, loadFriendlyArgs } from './load/server-under-test.js';
import { describe, distribution, mb, ms, type Distribution } from './load/stats.js';

const { values } = parseArgs({
  options: {
    websocket: { type: 'string', default: '5000' },
    sse: { type: 'string', default: '2500' },
    'long-polling': { type: 'string', default: '2500' },
    rooms: { type: 'string', default: '1,1000' },
    'server-args': { type: 'string', default: '' },
    'per-process': { type: 'string', default: '15000' },
    concurrency: { type: 'string', default: '100' },
    members: { type: 'string', default: 'distinct' },
    broadcasts: { type: 'string', default: '3' },
    /**
     * Broadcast rounds before the measured ones, run and checked as they are, printed apart and
     * left out of the headline latency: the first broadcast after the connect burst is also the
     * first run of the broadcast path's code. None by default: at 50,000 connections the first
     * round was not the slowest (its p99 1.97 s, the next three 1.87, 1.41 and 1.69 s).
     */
    warmup: { type: 'string', default: '0' },
    /**
     * The least time between two broadcast rounds. A round starts once the one before it is
     * delivered to every client and the machine is quiet again (long pollers back, acknowledgements
     * written), at most --quiet-ms later: a broadcast measured alone, not behind the last one.
     */
    'gap-ms': { type: 'string', default: '1000' },
    /** Rounds every --gap-ms whatever the last one's state (a sustained rate: rounds that take longer queue behind each other). */
    'fixed-gap': { type: 'boolean', default: false },
    /** After a round is delivered, the most to wait for the CPU of the server and the load generator to fall back to idle. */
    'quiet-ms': { type: 'string', default: '10000' },
    /**
     * Before the idle period, the most to wait for the presence notices of the connect burst to
     * end (no WebSocket or SSE client received one for 2 s): each node sends them at its
     * presence budget, so over many rooms they go on well after the last connection, and the
     * idle period measured them, not idleness. 0: no wait (the idle period starts 2 s after the
     * last connection, as before this option).
     */
    'settle-ms': { type: 'string', default: '60000' },
    'idle-seconds': { type: 'string', default: '10' },
    /** After the last broadcast, the most to wait for every client to have everything. */
    'drain-ms': { type: 'string', default: '30000' },
    label: { type: 'string', default: '' },
    /**
     * The server: `switchboard` (its built CLI), or `bare`: bench/servers/bare-protocol-server.mjs,
     * the floor (the same wire protocol and nothing else; `--workers N` of --server-args is its
     * WORKERS, the rest is not read). Its results are labelled `…-bare-…` (bench/results/).
     */
    server: { type: 'string', default: 'switchboard' },
  },
});
if (values.server !== 'switchboard' && values.server !== 'bare') {
  console.error(`--server: "${values.server}" is not valid, expected switchboard or bare`);
  process.exit(2);
}

// A count or a time that is not a whole number (`--warmup abc`) would run nothing and print "none": refused at once.
for (const name of ['websocket', 'sse', 'long-polling', 'per-process', 'concurrency', 'broadcasts', 'warmup', 'gap-ms', 'quiet-ms', 'settle-ms', 'idle-seconds', 'drain-ms'] as const) {
  if (!/^\d+$/.test(values[name])) {
    console.error(`--${name}: "${values[name]}" is not a whole number of 0 or more`);
    process.exit(2);
  }
}
if (!values.rooms.split(',').every((n) => /^[1-9]\d*$/.test(n))) {
  console.error(`--rooms: "${values.rooms}" is not a list of room counts (1 or more), e.g. 1,1000`);
  process.exit(2);
}

export interface ConnectionsResult {
  serverCommand: string;
  rooms: number;
  counts: Partial<Record<ClientKind, number>>;
  connected: number;
  failed: number;
  connectSeconds: number;
  connectRate: number;
  serverProcesses: number;
  rssIdleServer: number;
  rssLoaded: number;
  /** The presence notices of the connect burst (see --settle-ms): how many the clients received by the end of the wait, how long after the last connection the last one came, how long the bench waited. */
  presenceSettle?: { notices: number; lastAfterMs: number; waitedMs: number };
  /** RSS of the tree after --idle-seconds with every client connected, once the presence notices of the connect burst were over (--settle-ms). */
  rssSettled: number;
  /** RSS of each process then, primary first. */
  rssSettledPerProcess: number[];
  /** The file-backed part of rssSettled (mapped files, node's binary above all: the same pages in each process, counted in each). */
  rssFileSettled?: number;
  bytesPerConnection: number;
  bytesPerConnectionSettled: number;
  idleCpuPercent: number;
  /** CPU time of the load generator's processes while every client was connected and idle, % of a core. */
  loadIdleCpuPercent: number;
  broadcasts: number;
  /** Rounds before the measured ones (--warmup): in broadcastCpuMs and rounds, not in latency. */
  warmup: number;
  /** Each round's delivery latency, warm-up rounds first. */
  rounds: Distribution[];
  /**
   * CPU time used per broadcast above the idle rates (over each round's window, from its first
   * publish to the next round): the server's processes and the load generator's client processes
   * (the publisher, in this process, is not counted), ms, one entry per broadcast. On a machine
   * of `cores` cores where both run, (server + load) / cores is the least wall time in which all
   * the work a broadcast makes can be done: its deliveries and what follows them (the long
   * pollers' next requests), so the deliveries alone may end sooner. Of the server's:
   * `serverSystem`, the kernel's time (its sockets' reads and writes), `serverOffMain`, the time
   * of threads other than the processes' main ones (V8's helpers: a major collection's concurrent
   * marking and sweeping above all; libuv's pool), and `serverGcPause`, the
   * garbage collector's pauses of its main threads (its /metrics, read before and after the
   * window; absent when it has none), and `serverGcByKind`, those pauses by kind (minor, major,
   * incremental, weakcb); all whole (no idle rate taken off).
   */
  broadcastCpuMs: { server: number; load: number; serverSystem?: number; serverOffMain?: number; serverGcPause?: number; serverGcByKind?: Record<string, number> }[];
  /** Rounds every --gap-ms whatever the last one's state (--fixed-gap); else each round waited for the last to be delivered and the machine quiet. */
  fixedGap?: boolean;
  cores: number;
  publishRetries: number;
  publishRetryReasons: Record<string, number>;
  publishFailures: number;
  latency: Distribution;
  connect: Distribution;
  kinds: { kind: ClientKind; clients: number; connected: number; deliveries: number; complete: number; lost: number; behind: number; doubled: number; outOfOrder: number; latency: Distribution; errors: Record<string, number>; samples: string[] }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `cpuMs` (CPU time of the server's and the load generator's processes so far) grows
 * by no more than their idle rate and a tenth of a core over 250 ms, or `maxMs` passed.
 */
async function quiet(cpuMs: () => number, idleRate: number, maxMs: number): Promise<void> {
  const until = performance.now() + maxMs;
  let before = cpuMs();
  let at = performance.now();
  while (performance.now() < until) {
    await sleep(250);
    const now = performance.now();
    const used = cpuMs();
    if ((used - before) / (now - at) <= idleRate + 0.1) return;
    before = used;
    at = now;
  }
}

async function runOnce(roomCount: number): Promise<ConnectionsResult> {
  const counts: Partial<Record<ClientKind, number>> = { websocket: Number(values.websocket), sse: Number(values.sse), 'long-polling': Number(values['long-polling']) };
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const serverArgs = values['server-args'].split(/\s+/).filter(Boolean);
  const server =
    values.server === 'bare'
      ? await ServerUnderTest.script('bare-protocol-server.mjs', { WORKERS: /--workers[ =](\d+)/.exec(values['server-args'])?.[1] ?? '1' })
      : await ServerUnderTest.switchboard([...loadFriendlyArgs(total), ...serverArgs]);
  const rooms = Array.from({ length: roomCount }, (_, i) => `r${i}`);
  let load: LoadCoordinator | undefined;
  try {
    await createRooms(server.baseUrl, rooms);
    await sleep(1000);
    const rssIdleServer = server.rss();
    console.log(`  ${roomCount} room(s): server up (${server.pids().length} process(es), ${mb(rssIdleServer)}), connecting ${total} clients...`);
    let lastLog = 0;
    const connected = await LoadCoordinator.connect({
      baseUrl: server.baseUrl,
      counts,
      rooms,
      perProcess: Number(values['per-process']),
      concurrency: Number(values.concurrency),
      members: values.members === 'shared' ? 'shared' : 'distinct',
      // As real clients do: after an error (a long poll answered 408, a cut stream) they come back from their cursor.
      reconnectMs: 1000,
      onProgress: (c, f) => {
        if (Date.now() - lastLog < 5000) return;
        lastLog = Date.now();
        console.log(`    ${c} connected, ${f} failed`);
      },
    });
    load = connected.load;
    const s = connected.summary;
    console.log(`    all connected: ${s.clients - s.failed}/${s.clients} in ${((s.lastConnected - s.firstStart) / 1000).toFixed(1)} s (${s.rate.toFixed(0)}/s)`);
    await sleep(2000);
    const pids = server.pids();
    const rssLoaded = server.rss();
    const settleMs = Number(values['settle-ms']);
    const settled = settleMs > 0 ? await load.presenceQuiet(2000, settleMs) : undefined;
    const presenceSettle = settled && { notices: settled.notices, lastAfterMs: settled.lastAt > 0 ? settled.lastAt - s.lastConnected : 0, waitedMs: settled.waitedMs };
    if (presenceSettle) console.log(`    presence notices of the connect burst: ${presenceSettle.notices} received, the last ${presenceSettle.lastAfterMs > 0 ? `${(presenceSettle.lastAfterMs / 1000).toFixed(1)} s after the last connection` : 'before the last connection'} (waited ${(presenceSettle.waitedMs / 1000).toFixed(1)} s for 2 s without one${presenceSettle.waitedMs >= settleMs ? ', then gave up: --settle-ms' : ''})`);
    const loadPids = load.pids();
    const cpu0 = server.cpuMs(pids);
    const loadCpu0 = cpuMsOf(loadPids);
    const idleMs = Number(values['idle-seconds']) * 1000;
    await sleep(idleMs);
    const idleCpuPercent = ((server.cpuMs(pids) - cpu0) / idleMs) * 100;
    const loadIdleCpuPercent = ((cpuMsOf(loadPids) - loadCpu0) / idleMs) * 100;
    const rssSettledPerProcess = pids.map((pid) => rssOf([pid]));
    const rssSettled = rssSettledPerProcess.reduce((a, b) => a + b, 0);
    const rssFileSettled = rssFileOf(pids);
    const publisher = new Publisher(server.baseUrl);
    const warmup = Number(values.warmup);
    const broadcasts = warmup + Number(values.broadcasts);
    /** When each round began publishing (wall-clock ms, as the clients' publish times). */
    const roundStarts: number[] = [];
    const broadcastCpuMs: ConnectionsResult['broadcastCpuMs'] = [];
    const fixedGap = values['fixed-gap'];
    const idleRate = (idleCpuPercent + loadIdleCpuPercent) / 100;
    for (let b = 0; b < broadcasts; b++) {
      // Read before the window opens: the scrape's own work is not the broadcast's.
      const gcBefore = await server.gcPauseMs();
      const started = performance.now();
      roundStarts.push(performance.timeOrigin + started);
      const serverCpu = server.cpuMs(pids);
      const serverSystem = systemMsOf(pids);
      const serverOffMain = threadMsOf(pids).others;
      const loadCpu = cpuMsOf(loadPids);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(50, rooms.length) }, async () => {
          while (next < rooms.length) await publisher.publish(rooms[next++]!);
        }),
      );
      if (fixedGap) await sleep(Number(values['gap-ms']));
      else {
        // Every client has this round's message, then the machine is quiet (the long pollers'
        // next requests held, the work this round made done) before the next round: each round is
        // one broadcast measured alone. Its CPU window takes in all the work it made.
        await load.settle(publisher.expected(), Number(values['drain-ms']));
        await quiet(() => server.cpuMs(pids) + cpuMsOf(loadPids), idleRate, Number(values['quiet-ms']));
        const left = Number(values['gap-ms']) - (performance.now() - started);
        if (left > 0) await sleep(left);
      }
      const windowMs = performance.now() - started;
      const used = {
        server: server.cpuMs(pids) - serverCpu - (idleCpuPercent / 100) * windowMs,
        load: cpuMsOf(loadPids) - loadCpu - (loadIdleCpuPercent / 100) * windowMs,
        serverSystem: systemMsOf(pids) - serverSystem,
        serverOffMain: threadMsOf(pids).others - serverOffMain,
      };
      const gcAfter = await server.gcPauseMs();
      broadcastCpuMs.push(
        gcBefore !== undefined && gcAfter !== undefined
          ? { ...used, serverGcPause: gcAfter.total - gcBefore.total, serverGcByKind: Object.fromEntries(Object.entries(gcAfter.byKind).map(([kind, ms]) => [kind, ms - (gcBefore.byKind[kind] ?? 0)])) }
          : used,
      );
    }
    await load.settle(publisher.expected(), Number(values['drain-ms']));
    const merged = await load.check(publisher.expected());
    publisher.close();
    const kinds = [...merged.values()];
    // A delivery's round is the last one that began before its message was published.
    const byRound: number[][] = roundStarts.map(() => []);
    for (const k of kinds) {
      for (let i = 0; i < k.latencyMs.length; i++) {
        let round = roundStarts.length - 1;
        while (round > 0 && roundStarts[round]! > k.sentMs[i]!) round--;
        byRound[round]!.push(k.latencyMs[i]!);
      }
    }
    const measuredFrom = roundStarts[warmup] ?? Number.POSITIVE_INFINITY;
    const allLatency = kinds.flatMap((k) => [...k.latencyMs].filter((_, i) => k.sentMs[i]! >= measuredFrom));
    const allConnect = kinds.flatMap((k) => [...k.connectMs]);
    return {
      serverCommand: server.commandLine,
      rooms: roomCount,
      counts,
      connected: s.clients - s.failed,
      failed: s.failed,
      connectSeconds: (s.lastConnected - s.firstStart) / 1000,
      connectRate: s.rate,
      serverProcesses: pids.length,
      rssIdleServer,
      rssLoaded,
      ...(presenceSettle ? { presenceSettle } : {}),
      rssSettled,
      rssSettledPerProcess,
      rssFileSettled,
      bytesPerConnection: (rssLoaded - rssIdleServer) / Math.max(1, s.clients - s.failed),
      bytesPerConnectionSettled: (rssSettled - rssIdleServer) / Math.max(1, s.clients - s.failed),
      idleCpuPercent,
      loadIdleCpuPercent,
      broadcasts: broadcasts - warmup,
      warmup,
      rounds: byRound.map((l) => distribution(l)),
      broadcastCpuMs,
      fixedGap,
      cores: availableParallelism(),
      publishRetries: publisher.retries,
      publishRetryReasons: Object.fromEntries(publisher.retryReasons),
      publishFailures: publisher.failures,
      latency: distribution(allLatency),
      connect: distribution(allConnect),
      kinds: kinds.map((k) => ({
        kind: k.kind,
        clients: k.clients,
        connected: k.connected,
        deliveries: k.deliveries,
        complete: k.complete,
        lost: k.lost,
        behind: k.behind,
        doubled: k.doubled,
        outOfOrder: k.outOfOrder,
        latency: distribution([...k.latencyMs].filter((_, i) => k.sentMs[i]! >= measuredFrom)),
        errors: k.errors,
        samples: k.samples,
      })),
    };
  } finally {
    await load?.close();
    await server.stop();
  }
}

/** What the server's CPU time of a broadcast holds: the kernel's part, the other threads' part, the collector's pauses. */
function serverParts(c: ConnectionsResult['broadcastCpuMs'][number]): string {
  const parts = [
    ...(c.serverSystem !== undefined ? [`system ${(c.serverSystem / 1000).toFixed(2)} s`] : []),
    ...(c.serverOffMain !== undefined ? [`off the main threads ${(c.serverOffMain / 1000).toFixed(2)} s`] : []),
    ...(c.serverGcPause !== undefined ? [`GC pauses ${(c.serverGcPause / 1000).toFixed(2)} s${gcKinds(c.serverGcByKind)}`] : [])];
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** The pauses by kind, the largest first (` [minor 1.20 s, major 0.28 s]`); empty when not known. */
function gcKinds(byKind: Record<string, number> | undefined): string {
  const kinds = Object.entries(byKind ?? {}).filter(([, ms]) => ms >= 5).sort((a, b) => b[1] - a[1]);
  return kinds.length > 0 ? ` [${kinds.map(([kind, ms]) => `${kind} ${(ms / 1000).toFixed(2)} s`).join(', ')}]` : '';
}

function print(r: ConnectionsResult): void {
  console.log(`  ${r.rooms} room(s), ${r.connected}/${r.connected + r.failed} connected in ${r.connectSeconds.toFixed(1)} s = ${r.connectRate.toFixed(0)} connections/s (connect ${describe(r.connect)})`);
  console.log(`    server: ${r.serverProcesses} process(es), RSS ${mb(r.rssIdleServer)} idle -> ${mb(r.rssLoaded)} just connected = ${(r.bytesPerConnection / 1024).toFixed(1)} KB per connection; idle CPU ${r.idleCpuPercent.toFixed(1)}% of a core`);
  console.log(`    after the idle period: RSS ${mb(r.rssSettled)} = ${(r.bytesPerConnectionSettled / 1024).toFixed(1)} KB per connection (by process: ${r.rssSettledPerProcess.map(mb).join(', ')})${r.rssFileSettled !== undefined ? `, of which file-backed ${mb(r.rssFileSettled)} (node's binary and libraries: the same pages in each process)` : ''}`);
  const rounds = r.fixedGap ? 'one every --gap-ms, whether the last was delivered or not' : 'each alone (the last one delivered to all and the machine quiet first)';
  const warm = r.warmup > 0 ? ` after ${r.warmup} warm-up round(s)` : '';
  console.log(`    broadcast x${r.broadcasts} to every room${warm}, ${rounds}: ${describe(r.latency)}; publish retries ${r.publishRetries} ${JSON.stringify(r.publishRetryReasons)}, unacknowledged ${r.publishFailures}`);
  const roundLine = (d: Distribution, i: number): string => `${i < r.warmup ? 'warm-up' : `#${i - r.warmup + 1}`} p50 ${ms(d.p50)} p99 ${ms(d.p99)}`;
  console.log(`    by round: ${r.rounds.map(roundLine).join('; ')}`);
  const cpu = r.broadcastCpuMs.map((c, i) => `${i < r.warmup ? 'warm-up: ' : ''}server ${(c.server / 1000).toFixed(2)} s${serverParts(c)} + load generator ${(c.load / 1000).toFixed(2)} s = floor ${((c.server + c.load) / 1000 / r.cores).toFixed(2)} s`);
  console.log(`    CPU per broadcast above idle (the floor: both over ${r.cores} cores): ${cpu.join('; ')} (load generator idle ${r.loadIdleCpuPercent.toFixed(1)}% of a core)`);
  for (const k of r.kinds) {
    const bad = k.lost + k.behind + k.doubled + k.outOfOrder > 0 || k.complete < k.clients;
    console.log(
      `    ${k.kind.padEnd(13)} ${k.complete}/${k.clients} complete, every round (lost ${k.lost}, behind ${k.behind}, doubled ${k.doubled}, out of order ${k.outOfOrder})  ${describe(k.latency)}${bad ? '  <-- NOT ALL DELIVERED ONCE IN ORDER' : ''}`,
    );
    if (Object.keys(k.errors).length) console.log(`      errors: ${JSON.stringify(k.errors)}`);
    for (const line of k.samples) console.log(`      ${line}`);
  }
}

{
  // A process may hold fewer than 20,000 open files (ulimit -n): the sockets must be spread over workers.
  const total = Number(values.websocket) + Number(values.sse) + Number(values['long-polling']);
  const needed = Math.ceil(total / 18_000);
  const asked = /--workers[ =](\d+)/.exec(values['server-args']);
  if (needed > 1 && (!asked || Number(asked[1]) < needed)) {
    console.log(`WARNING: ${total} connections need at least ${needed} server processes (each under its 20,000 open files): add --server-args="--workers ${needed}" (or more).`);
  }
}
console.log(`Connections: websocket ${values.websocket}, sse ${values.sse}, long-polling ${values['long-polling']}, rooms ${values.rooms}, server ${values.server}, server args "${values['server-args']}"`);
console.log(describeYardstick(await measureYardstick()));
for (const roomCount of values.rooms.split(',').map(Number)) {
  const r = await runOnce(roomCount);
  print(r);
  const total = Number(values.websocket) + Number(values.sse) + Number(values['long-polling']);
  saveResult('connections', `${values.label || total}${values.server === 'bare' ? '-bare' : ''}-${roomCount}room${roomCount === 1 ? '' : 's'}`, r);
}
process.exit(0);
