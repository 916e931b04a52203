import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ClientKind, CutPlan, FromClient, KindReport, LoadPlan, ToClient } from './messages.js';
import { BENCH_DIR } from '../repo-root.js';

const here = path.join(BENCH_DIR, 'load');

/** Sockets one client process opens at most: under its 20,000 open files, with room for the rest. */
export const SOCKETS_PER_PROCESS = 15_000;

export interface LoadOptions {
  baseUrl: string;
  counts: Partial<Record<ClientKind, number>>;
  rooms: string[];
  /** Clients per process (at most SOCKETS_PER_PROCESS). */
  perProcess?: number;
  /** Connections opening at once, per process (100). */
  concurrency?: number;
  members?: 'distinct' | 'shared';
  reconnectMs?: number;
  cut?: CutPlan;
  longPollTimeoutMs?: number;
  /** Time between two short polls of a client (1000 ms). */
  pollIntervalMs?: number;
  /** Called about every second while connecting. */
  onProgress?: (connected: number, failed: number) => void;
}

/** When the clients were connected: wall-clock times over every process. */
export interface ConnectSummary {
  clients: number;
  failed: number;
  firstStart: number;
  lastConnected: number;
  /** Connections per second, from the first attempt to the last subscription answer. */
  rate: number;
}

/** A report per kind, merged over every process (arrays concatenated, counts added). */
export type MergedReport = Map<ClientKind, KindReport>;

/**
 * Node's flags for the load processes. The load generator is the instrument, not what is
 * measured, and on a machine it shares with the server every millisecond of CPU it spends on
 * a broadcast is added to that broadcast's latency. A process of 15,000 clients receives a
 * broadcast as 15,000 reads in a burst, and what those make (frames, parsed entries, the long
 * pollers' next requests) outlives V8's default young generation of 16 MB by a few collections,
 * so it was copied and promoted before it died: 64 MB lets most of it die young.
 * `npm run bench:connections` at 50,000 (30,000 + 10,000 + 10,000, one room, 3 workers), one
 * window: the load generator's CPU per broadcast 1.71-1.82 s with V8's default, 1.06-1.27 s
 * with this; the server's unchanged (1.6-2.3 s both ways). `--max-old-space-size`: the seqs and
 * latencies of millions of deliveries are kept until the end.
 */
const LOAD_NODE_FLAGS = ['--max-old-space-size=4096', '--max-semi-space-size=64'];

/**
 * The load generator: forks client processes, each with its own loopback source addresses
 * (127.1.0.2, ... for the first, 127.2.0.2, ... for the second: an address has about 28,000
 * ephemeral ports and the server budgets each address, and a process holds 20,000 open files), spreads the clients of every kind over them, and merges what they report.
 * Throws when a process fails.
 */
export class LoadCoordinator {
  private readonly children: ChildProcess[] = [];
  private readonly progress = new Map<number, { connected: number; failed: number }>();

  private constructor(private readonly options: LoadOptions) {}

  /** Forks the processes and connects every client; resolves once every first attempt was answered or failed. */
  static async connect(options: LoadOptions): Promise<{ load: LoadCoordinator; summary: ConnectSummary }> {
    const load = new LoadCoordinator(options);
    return { load, summary: await load.start() };
  }

  private async start(): Promise<ConnectSummary> {
    const o = this.options;
    const total = Object.values(o.counts).reduce((a, b) => a + (b ?? 0), 0);
    const per = Math.min(o.perProcess ?? SOCKETS_PER_PROCESS, SOCKETS_PER_PROCESS);
    const processes = Math.max(1, Math.ceil(total / per));
    // Every kind spread evenly, so each process holds a mix and no process more than `per`.
    const plans: LoadPlan[] = [];
    let offset = 0;
    for (let p = 0; p < processes; p++) {
      const counts: Partial<Record<ClientKind, number>> = {};
      let n = 0;
      for (const [kind, count] of Object.entries(o.counts) as [ClientKind, number][]) {
        const share = Math.floor(count / processes) + (p < count % processes ? 1 : 0);
        if (share > 0) counts[kind] = share;
        n += share;
      }
      plans.push({
        index: p,
        baseUrl: o.baseUrl,
        counts,
        rooms: o.rooms,
        roomOffset: offset,
        concurrency: o.concurrency ?? 100,
        members: o.members ?? 'distinct',
        longPollTimeoutMs: o.longPollTimeoutMs ?? 25_000,
        pollIntervalMs: o.pollIntervalMs ?? 1000,
        ...(o.reconnectMs !== undefined ? { reconnectMs: o.reconnectMs } : {}),
        ...(o.cut ? { cut: o.cut } : {}),
      });
      offset += n;
    }
    const connected = await Promise.all(plans.map((plan) => this.spawn(plan)));
    const failed = connected.reduce((a, c) => a + c.failed, 0);
    const firstStart = Math.min(...connected.map((c) => c.firstStart));
    const lastConnected = Math.max(...connected.map((c) => c.lastConnected));
    return { clients: total, failed, firstStart, lastConnected, rate: (total - failed) / ((lastConnected - firstStart) / 1000) };
  }

  private spawn(plan: LoadPlan): Promise<Extract<FromClient, { type: 'connected' }>> {
    const child = fork(path.join(here, 'load-process.ts'), [], {
      // BENCH_LOAD_NODE_ARGS: node flags for the client processes (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), after
      // ours (a later flag wins). LOAD_NODE_FLAGS says why ours.
      execArgv: ['--import', 'tsx', ...LOAD_NODE_FLAGS, ...(process.env.BENCH_LOAD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      child.on('message', (m: FromClient) => {
        if (m.type === 'progress') {
          this.progress.set(plan.index, m);
          let c = 0;
          let f = 0;
          for (const p of this.progress.values()) {
            c += p.connected;
            f += p.failed;
          }
          this.options.onProgress?.(c, f);
        } else if (m.type === 'connected') resolve(m);
        else if (m.type === 'fatal') reject(new Error(`load process ${plan.index}: ${m.message}`));
      });
      child.once('exit', (code) => reject(new Error(`load process ${plan.index} exited with ${code}`)));
      this.send(child, { type: 'plan', plan });
    });
  }

  /** Starts the cuts of every client that has a CutPlan (none cut before this). */
  jitter(): void {
    for (const c of this.children) this.send(c, { type: 'jitter' });
  }

  /** Stops the cuts of every client; those away come back when their time away ends. */
  calm(): void {
    for (const c of this.children) this.send(c, { type: 'calm' });
  }

  /**
   * Waits until every client that ever connected is up and has received the last message of
   * `expected` (room → acknowledged seqs) of its room, or until `maxMs` passed: what a run waits
   * for after its last publish, instead of a fixed time that a starved machine may outlast. Resolves with
   * how long it waited and how many clients were still behind then.
   */
  async settle(expected: Record<string, number[]>, maxMs: number): Promise<{ waitedMs: number; behind: number }> {
    const last = Object.fromEntries(Object.entries(expected).map(([room, seqs]) => [room, seqs.at(-1) ?? 0]));
    const start = performance.now();
    const behind = (await this.askAll({ type: 'behind', last, waitMs: maxMs }, 'behind')).reduce((a, m) => a + m.clients, 0);
    return { waitedMs: performance.now() - start, behind };
  }

  /**
   * Waits until no client has received a presence notice for `quietMs` (the notices of a connect
   * burst go out at each node's presence budget, `--presence-notice-rate`: over 1,000 rooms they
   * last well past the last connection), or until `maxMs` passed. Resolves with how long it
   * waited, the notices received in all, and when the last one came (wall-clock ms; 0: none).
   */
  async presenceQuiet(quietMs: number, maxMs: number, everyMs = 500): Promise<{ waitedMs: number; notices: number; lastAt: number }> {
    const start = performance.now();
    for (;;) {
      const answers = await this.askAll({ type: 'notices' }, 'notices');
      const notices = answers.reduce((a, m) => a + m.count, 0);
      const lastAt = Math.max(0, ...answers.map((m) => m.lastAt));
      const waitedMs = performance.now() - start;
      if (Date.now() - lastAt >= quietMs || waitedMs >= maxMs) return { waitedMs, notices, lastAt };
      await new Promise((r) => setTimeout(r, Math.min(everyMs, maxMs - waitedMs)));
    }
  }

  /** Checks every client's deliveries against `expected` (room → acknowledged seqs) and merges the reports. */
  async check(expected: Record<string, number[]>): Promise<MergedReport> {
    const reports = await this.askAll({ type: 'check', expected }, 'report');
    const merged: MergedReport = new Map();
    for (const r of reports.flatMap((m) => m.kinds)) {
      const m = merged.get(r.kind);
      if (!m) {
        merged.set(r.kind, { ...r, samples: [...r.samples] });
        continue;
      }
      for (const k of ['clients', 'connected', 'deliveries', 'complete', 'unacknowledged', 'lost', 'behind', 'doubled', 'outOfOrder', 'down', 'cuts'] as const) m[k] += r[k];
      m.lastDeliveryAt = Math.max(m.lastDeliveryAt, r.lastDeliveryAt);
      for (const k of ['connectMs', 'latencyMs', 'sentMs', 'replayMs', 'catchUpMs', 'reconnectMs'] as const) m[k] = concat(m[k], r[k]);
      for (const [e, n] of Object.entries(r.errors)) m.errors[e] = (m.errors[e] ?? 0) + n;
      m.samples.push(...r.samples.slice(0, Math.max(0, 5 - m.samples.length)));
    }
    return merged;
  }

  /** Sends `message` to every client process and resolves with the first answer of type `answer` from each. */
  private askAll<T extends FromClient['type']>(message: ToClient, answer: T): Promise<Extract<FromClient, { type: T }>[]> {
    return Promise.all(
      this.children.map(
        (child) =>
          new Promise<Extract<FromClient, { type: T }>>((resolve, reject) => {
            const on = (m: FromClient): void => {
              if (m.type !== answer) return;
              child.off('message', on);
              child.off('exit', gone);
              resolve(m as Extract<FromClient, { type: T }>);
            };
            // A client process that dies (its error is on stderr) would leave the run waiting for good.
            const gone = (code: number | null, signal: string | null): void => {
              child.off('message', on);
              reject(new Error(`a load process exited (${signal ?? `code ${code}`}) before it answered "${message.type}"`));
            };
            child.on('message', on);
            child.once('exit', gone);
            this.send(child, message);
          }),
      ),
    );
  }

  /** The client processes' ids (for their CPU time: bench/load/proc-stats.ts). */
  pids(): number[] {
    return this.children.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  /** Closes every client and ends the processes. */
  async close(): Promise<void> {
    await Promise.all(
      this.children.map((child) => {
        child.removeAllListeners('exit');
        if (child.exitCode !== null || !child.connected) return Promise.resolve();
        const exited = new Promise((resolve) => child.once('exit', resolve));
        this.send(child, { type: 'close' });
        return Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]).then(() => {
          if (child.exitCode === null) child.kill('SIGKILL');
        });
      }),
    );
  }

  private send(child: ChildProcess, m: ToClient): void {
    if (child.connected) child.send(m);
  }
}

function concat(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
