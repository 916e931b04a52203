import type { Worker } from 'node:cluster';
import type { Logger } from '../logger.js';
import { eachOurs, type ConnectionCount, type ToPrimary, type ToWorker } from './ipc-protocol.js';

/** Restarts of one slot in a row, each of a worker that died young, before the pool gives up. */
export const MAX_QUICK_FAILURES = 8;
/** A worker that served at least this long before it died is restarted at once (not a crash loop). */
const HEALTHY_AFTER_MS = 30_000;
/** The longest wait before a restart (the backoff doubles from 250 ms up to it). */
const MAX_BACKOFF_MS = 30_000;
/**
 * The least pause of a roll between the end of one old worker's drain and the start of the next:
 * its clients come back meanwhile (the SDK's first try within 500 ms), and are taken in, before
 * the next worker's do. Drained back to back, the two herds overlapped: `npm run
 * bench:rolling-restart -- --clients 5000` (2 workers, 3 pairs against the build before,
 * 2026-12-06) had 226-794 short polls unanswered for 10 s without a pause, none to 8 with it.
 * Past it, the roll waits while the drained worker's clients are still coming back to the new
 * workers (a herd bigger than they take in 2 s), at most MAX_DRAIN_GAP_MS: awaitClientsBack.
 */
const DRAIN_GAP_MS = 2000;
/** The share of a drained worker's clients the roll waits to see back on the new workers before the next drain. */
const BACK_SHARE = 0.9;
/** The longest pause between two drains of a roll. */
const MAX_DRAIN_GAP_MS = 30_000;
/**
 * A roll stops waiting for a drained worker's clients once fewer than QUIET_SHARE of them came
 * back over the last QUIET_MS, when QUIET_FROM of them are back: fewer, and they are more likely
 * waiting out a backoff (a machine too busy for their handshakes) than gone. `npm run
 * bench:rolling-restart -- --clients 10000 --kinds websocket,sse` (2 workers, 2026-12-06): with
 * neither QUIET_FROM nor more than 1 s of quiet, the count stalled at 1,366 of 5,049 for a second
 * (1,220 handshakes timed out); with 1 s, at 2,827 of 5,010 (3,302); with both, none timed out
 * (the roll waited for 4,464 of 4,949).
 */
const QUIET_SHARE = 0.01;
const QUIET_FROM = 0.5;
const QUIET_MS = 3000;
/** How often the roll counts the new workers' clients while it waits. */
const COUNT_EVERY_MS = 250;
/** How long a worker may take to say how many clients it holds before it counts as none (or, while a roll waits, as it said last). */
const COUNT_TIMEOUT_MS = 2000;
/** How long a roll waits for an old worker to confirm it takes no new connection. */
const UNLISTEN_TIMEOUT_MS = 5000;

/** What the pool needs from the primary. */
export interface WorkerPoolOptions {
  /** Worker processes kept running. */
  count: number;
  /** Forks a worker process (cluster.fork with the worker's environment). */
  fork: () => Worker;
  logger: Logger;
  /** How long a drained worker may take to exit before it is killed (its shutdown deadline plus a margin). */
  drainTimeoutMs: number;
  /** How long a new worker may take to listen. */
  readyTimeoutMs: number;
  /** Told when a slot keeps crashing (MAX_QUICK_FAILURES in a row): the primary gives up. */
  onCrashLoop: () => void;
  /** Told when the worker that takes a slot's new connections may have changed (see `acceptor`). */
  onAcceptorsChanged?: () => void;
}

/** A worker that exited before it listened; `exitCode` is its own (2: a configuration it refused). */
export class WorkerStartError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'WorkerStartError';
  }
}

/** An old worker a roll drained: what it held as its drain began (undefined: it did not say in time), the new workers' clients then, and when its drain ended. */
interface Drained {
  held: number | undefined;
  sockets: number | undefined;
  base: number;
  ended: number;
  worker: Worker;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  /** A worker started after the slot's died, not listening yet. */
  restarting: Worker | undefined;
  /** Deaths in a row of workers that died young. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/**
 * The worker processes of the primary (`--workers N`): starts them, restarts one that dies (with
 * a backoff when it keeps dying young; a crash loop is logged and, past MAX_QUICK_FAILURES,
 * ends the primary), replaces them all (`roll`, SIGHUP: new ones first, then the old ones drained
 * one at a time) and drains them all (`stop`).
 * A worker is ready once it listens (its `ready` message); drained means sent `drain`, then
 * waited for (killed past `drainTimeoutMs`).
 */
export class WorkerPool {
  /**
   * The port the first worker listens on (what `--port 0` chose: node:cluster gives every worker
   * the same, as long as one of them keeps it open).
   */
  port: number | undefined;
  private readonly slots: Slot[];
  private readonly readyAt = new WeakMap<Worker, number>();
  private readonly ready = new WeakMap<Worker, Promise<void>>();
  /** Workers drained on purpose (rolling restart, shutdown): their exit is no failure. */
  private readonly retired = new WeakSet<Worker>();
  /** Workers told to take no new connection (`unlisten`, `drain`). */
  private readonly closedToNew = new WeakSet<Worker>();
  /** What each worker said last of the clients it holds (clientsOfNew). */
  private readonly lastClients = new WeakMap<Worker, number>();
  private stopping = false;
  /** Old workers of a roll, replaced in their slots, not drained yet (`stop` drains them too). */
  private readonly outgoing = new Set<Worker>();
  private rolling: Promise<void> | undefined;

  constructor(private readonly o: WorkerPoolOptions) {
    this.slots = Array.from({ length: o.count }, (_, index) => ({ index, worker: undefined, restarting: undefined, failures: 0, restart: undefined }));
  }

  /**
   * Starts every worker: the first alone (it may create the SQLite file and pick the port), then
   * the others together. Rejects when one exits before it listens (a port in use, a bad
   * certificate...: the worker said why on stderr).
   */
  async start(): Promise<void> {
    const [first, ...others] = this.slots;
    await this.spawn(first!);
    await Promise.all(others.map((slot) => this.spawn(slot)));
    this.o.logger.debug({ workers: this.workers.map((w) => w.process.pid) }, 'workers started');
  }

  /**
   * The worker that takes the new connections of `slot` (`--worker-accept address`): the slot's
   * own, or, while it is away (dead, restarting, told to take no new connection), the next slot's
   * that does; undefined when none does.
   */
  acceptor(slot: number): Worker | undefined {
    const n = this.slots.length;
    for (let k = 0; k < n; k++) {
      const worker = this.slots[(slot + k) % n]!.worker;
      if (worker !== undefined && !this.closedToNew.has(worker) && worker.isConnected()) return worker;
    }
    return undefined;
  }

  /** The live workers, slot by slot. */
  get workers(): Worker[] {
    return this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /**
   * Replaces every worker. The new ones are started one at a time (a worker starting takes a
   * core for a moment, while the old ones serve every client); once they all listen, the old
   * ones take no new connection (`unlisten`, each confirmed before the first drain); then the
   * old ones are drained one at a time (their clients reconnect and resume from their cursors),
   * each once the clients of the one before are back on the new workers (awaitClientsBack).
   * Each drained worker's clients land on the new workers only, so none moves twice, and on all
   * of them: started and drained in turn, the first new worker took every client of the first
   * old one and a share of each after (with 2 workers, 3 in 4 of the clients; with 4, half).
   * The price: twice the workers until the old ones have drained. A new worker that fails to
   * start keeps its old one (serving its clients and taking new ones); the roll stops when none
   * started. A roll asked for during another is the same roll.
   */
  roll(): Promise<void> {
    this.rolling ??= (async () => {
      try {
        if (this.stopping) return;
        // One at a time: a worker starting takes a core for a moment, while the old ones serve every client.
        const old: Worker[] = [];
        let kept = 0;
        for (const slot of this.slots) {
          if (this.stopping) return;
          try {
            const displaced = await this.spawn(slot, 'replace');
            // Outgoing from the moment its new worker takes its slot (a `stop` meanwhile drains it).
            if (displaced) {
              this.outgoing.add(displaced);
              old.push(displaced);
            }
          } catch (err) {
            kept++;
            this.o.logger.error({ slot: slot.index, err: (err as Error).message }, 'a new worker did not start: the old one keeps serving its clients');
          }
        }
        if (kept === this.slots.length) {
          this.o.logger.error({ workers: this.o.count }, 'rolling restart stopped: no new worker started');
          return;
        }
        await Promise.all(old.map((worker) => this.unlisten(worker)));
        let previous: Drained | undefined;
        for (const worker of old) {
          if (this.stopping) return;
          if (previous) await this.awaitClientsBack(previous);
          if (this.stopping) return;
          const [count, base] = await Promise.all([this.countOf(worker), this.clientsOfNew()]);
          await this.drain(worker);
          this.outgoing.delete(worker);
          previous = { held: count?.clients, sockets: count?.connections, base, ended: Date.now(), worker };
        }
        this.o.logger.info({ workers: this.o.count, kept }, 'rolling restart done');
      } finally {
        this.rolling = undefined;
      }
    })();
    return this.rolling;
  }

  /**
   * Waits, after a roll drained `drained.worker` (which held `held` clients as its drain began,
   * when the new workers held `base`), at least DRAIN_GAP_MS from the drain's end, then until its
   * clients are back on the new workers (BACK_SHARE of `held` more than `base`) or, QUIET_FROM of
   * them back, stop coming (fewer than QUIET_SHARE of `held` more in the last QUIET_MS: clients
   * that left), at most MAX_DRAIN_GAP_MS. Not at all when it said it held no socket at all (an
   * idle node rolls its N workers without N - 1 pauses); one with sockets but no client (short
   * pollers between polls, whose next polls come back meanwhile) gets the least pause, and so
   * does one that did not say. Clients (WebSockets, SSE streams, held long polls), not sockets,
   * for the shares: the drained worker's idle keep-alive sockets never come back, and the new
   * workers' own idle sockets closing (a publisher's pool) hid the clients that did.
   */
  private async awaitClientsBack(drained: Drained): Promise<void> {
    const { base, ended } = drained;
    if (drained.sockets === 0) return this.logWait(drained, 0, Date.now() - ended, 'none held');
    // Unknown (it did not say in time): counted as none for the shares, the least pause kept.
    const held = drained.held ?? 0;
    const samples: { at: number; back: number }[] = [];
    for (;;) {
      const at = Date.now();
      const back = (await this.clientsOfNew()) - base;
      if (this.stopping) return;
      samples.push({ at, back });
      // The oldest sample kept is the latest one at least QUIET_MS old.
      while (samples.length > 1 && samples[1]!.at <= at - QUIET_MS) samples.shift();
      const oldest = samples[0]!;
      const quiet = back >= held * QUIET_FROM && oldest.at <= at - QUIET_MS && back - oldest.back < Math.max(1, held * QUIET_SHARE);
      const why =
        at - ended >= MAX_DRAIN_GAP_MS
          ? 'waited too long'
          : at - ended < DRAIN_GAP_MS
            ? undefined
            : back >= held * BACK_SHARE
              ? 'back'
              : quiet
                ? 'quiet'
                : undefined;
      if (why !== undefined) return this.logWait(drained, Math.max(0, back), at - ended, why);
      // The next count on the beat of COUNT_EVERY_MS from the drain's end, so that one falls at DRAIN_GAP_MS.
      const next = ended + Math.ceil((Date.now() - ended + 1) / COUNT_EVERY_MS) * COUNT_EVERY_MS;
      await new Promise((r) => setTimeout(r, next - Date.now()));
    }
  }

  /** The roll's line when it stops waiting for `drained`'s clients (`held` left out when the worker did not say). */
  private logWait(drained: Pick<Drained, 'held' | 'worker'>, back: number, waitedMs: number, why: string): void {
    this.o.logger.info({ worker: drained.worker.id, held: drained.held, back, waitedMs, why }, "rolling restart: the drained worker's clients are back or no longer coming: draining the next");
  }

  /**
   * The clients the slots' workers hold (the new ones, in a roll), as each says; for one that
   * does not answer in time (a worker busy with a herd of handshakes), what it said last: a
   * worker counted as none made the drained worker's clients look gone.
   */
  private async clientsOfNew(): Promise<number> {
    const counts = await Promise.all(this.workers.map(async (worker) => (await this.countOf(worker))?.clients ?? this.lastClients.get(worker) ?? 0));
    return counts.reduce((sum, n) => sum + n, 0);
  }

  /**
   * What `worker` says it holds: its sockets and its clients (WebSockets, SSE streams, held long
   * polls); undefined when it does not answer within COUNT_TIMEOUT_MS or is gone.
   */
  private async countOf(worker: Worker): Promise<ConnectionCount | undefined> {
    const count = await this.ask(worker, { sb: 1, t: 'count' }, 'counted', COUNT_TIMEOUT_MS);
    if (count) this.lastClients.set(worker, count.clients);
    return count;
  }

  /** Sends `message` to `worker`; resolves with its answer (its first message of type `answer`), or undefined once it is gone or after `timeoutMs`. */
  private ask<T extends ToPrimary['t']>(worker: Worker, message: ToWorker, answer: T, timeoutMs: number): Promise<Extract<ToPrimary, { t: T }> | undefined> {
    if (!worker.isConnected()) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const done = (m: Extract<ToPrimary, { t: T }> | undefined): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', gone);
        resolve(m);
      };
      const gone = (): void => done(undefined);
      const timer = setTimeout(gone, timeoutMs);
      const onMessage = (m: unknown): void =>
        eachOurs<ToPrimary>(m, (ours) => {
          if (ours.t === answer) done(ours as Extract<ToPrimary, { t: T }>);
        });
      worker.on('message', onMessage);
      worker.once('exit', gone);
      worker.send(message, () => {});
    });
  }

  /** Drains every worker at once and resolves when all have exited. No worker is started after. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.restart);
    await Promise.all([...this.workers, ...this.outgoing].map((w) => this.drain(w)));
  }

  /**
   * Forks a worker for `slot`; once it listens, the slot holds it, and the promise resolves with
   * the worker it displaced (`replace`: the roll drains it). A `restart` that dies before it
   * listens counts as a failure of the slot and is tried again.
   */
  private spawn(slot: Slot, mode: 'start' | 'restart' | 'replace' = 'start'): Promise<Worker | undefined> {
    const worker = this.o.fork();
    if (mode === 'restart') slot.restarting = worker;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`worker ${worker.id} did not listen within ${this.o.readyTimeoutMs} ms`));
        worker.process.kill('SIGKILL');
      }, this.o.readyTimeoutMs);
      const onMessage = (m: unknown): void =>
        eachOurs<ToPrimary>(m, (message) => {
          if (message.t !== 'ready') return;
          clearTimeout(timer);
          worker.off('message', onMessage);
          // 0 from workers handed their connections (the primary listens): it set the port.
          if (message.port !== 0) this.port ??= message.port;
          this.readyAt.set(worker, Date.now());
          resolve();
        });
      worker.on('message', onMessage);
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new WorkerStartError(`worker ${worker.id} exited (${signal ?? code}) before it listened`, code));
      });
    });
    this.ready.set(worker, ready);
    worker.once('exit', (code, signal) => {
      this.exited(slot, worker, code, signal);
      this.o.onAcceptorsChanged?.();
    });
    return ready.then(() => {
      if (slot.restarting === worker) slot.restarting = undefined;
      // Stopping, or a restart whose slot a roll filled meanwhile: one worker too many.
      if (this.stopping || (mode === 'restart' && slot.worker)) {
        void this.drain(worker);
        return undefined;
      }
      const previous = slot.worker;
      slot.worker = worker;
      this.o.onAcceptorsChanged?.();
      return previous;
    });
  }

  private exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (this.retired.has(worker) || this.stopping) return;
    if (slot.worker === worker) slot.worker = undefined;
    else if (slot.restarting === worker) slot.restarting = undefined;
    else return; // a worker of the first start or of a roll that never listened: start() or roll() reports it
    const readyAt = this.readyAt.get(worker);
    const young = readyAt === undefined || Date.now() - readyAt < HEALTHY_AFTER_MS;
    slot.failures = young ? slot.failures + 1 : 1;
    if (slot.failures > MAX_QUICK_FAILURES) {
      this.o.logger.fatal({ slot: slot.index, failures: slot.failures - 1 }, 'crash loop: the worker keeps dying; giving up');
      this.o.onCrashLoop();
      return;
    }
    const delay = slot.failures <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 250 * 2 ** (slot.failures - 2));
    const level = slot.failures >= 3 ? 'error' : 'warn';
    this.o.logger[level]({ worker: worker.id, pid: worker.process.pid, code, signal, slot: slot.index, failures: slot.failures, restartInMs: delay }, slot.failures >= 3 ? 'worker died again (crash loop?): restarting after a backoff' : 'worker died: restarting it');
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      if (this.stopping || slot.worker) return;
      this.spawn(slot, 'restart').catch((err: unknown) => {
        // Died before it listened: its exit handler counted it and scheduled the next try.
        this.o.logger.warn({ slot: slot.index, err: (err as Error).message }, 'restarted worker did not start');
      });
    }, delay);
  }

  /**
   * Tells `worker` to take no new connection (it keeps serving the open ones); resolves once it
   * says it stopped (or exited, or after UNLISTEN_TIMEOUT_MS): a worker busy when the order came
   * would otherwise still accept the clients of the worker drained next.
   */
  private async unlisten(worker: Worker): Promise<void> {
    this.closedToNew.add(worker);
    this.o.onAcceptorsChanged?.();
    const answer = await this.ask(worker, { sb: 1, t: 'unlisten' }, 'unlistened', UNLISTEN_TIMEOUT_MS);
    if (answer === undefined && worker.isConnected()) {
      this.o.logger.warn({ worker: worker.id, pid: worker.process.pid }, 'a worker did not confirm it takes no new connection: draining the next one anyway');
    }
  }

  /** Tells `worker` to close gracefully; resolves once it exited (killed after drainTimeoutMs). */
  private drain(worker: Worker): Promise<void> {
    this.retired.add(worker);
    this.closedToNew.add(worker);
    this.o.onAcceptorsChanged?.();
    if (worker.isDead()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.o.logger.warn({ worker: worker.id, pid: worker.process.pid }, 'worker did not drain in time: killed');
        worker.process.kill('SIGKILL');
      }, this.o.drainTimeoutMs);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      const drain: ToWorker = { sb: 1, t: 'drain' };
      if (worker.isConnected()) worker.send(drain, () => {});
      else worker.process.kill('SIGTERM');
    });
  }
}
