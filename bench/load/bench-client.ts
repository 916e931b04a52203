import type { ClientKind, CutPlan } from './messages.js';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

/** A value uniformly in 0.5×..1.5× `mean`. */
export const around = (mean: number): number => mean * (0.5 + Math.random());

/** What every client of one kind in one process adds to. */
export interface KindTally {
  kind: ClientKind;
  connectMs: number[];
  latencyMs: number[];
  /** When each message of latencyMs was published (wall-clock ms), in the same order: a run of several broadcasts tells them apart by it. */
  sentMs: number[];
  replayMs: number[];
  /** ms from the client's return (its reconnect began) to delivery, for the same messages as replayMs. */
  catchUpMs: number[];
  reconnectMs: number[];
  deliveries: number;
  lastDeliveryAt: number;
  /** Presence notices received (WebSocket and SSE clients), and when the last one came (wall-clock ms; 0: none). */
  notices: number;
  lastNoticeAt: number;
  cuts: number;
  errors: Map<string, number>;
}

export function newTally(kind: ClientKind): KindTally {
  return { kind, connectMs: [], latencyMs: [], sentMs: [], replayMs: [], catchUpMs: [], reconnectMs: [], deliveries: 0, lastDeliveryAt: 0, notices: 0, lastNoticeAt: 0, cuts: 0, errors: new Map() };
}

/** Where a client connects and how it behaves. */
export interface ClientSetup {
  baseUrl: string;
  localAddress: string;
  room: string;
  name: string;
  member: string;
  /** Reconnect after an unexpected close, after about this long (ms). */
  reconnectMs?: number;
  cut?: CutPlan;
  longPollTimeoutMs: number;
  pollIntervalMs: number;
}

/**
 * One load client, whatever its transport: it records the seqs of the `message` entries it got
 * (in arrival order), their latency (the text is `t:<publish time>`), the time its connections
 * took, and comes back from where it was after a close (its resume cursor). A subclass opens
 * one connection per `open` and calls `up` once subscribed, `entry` per entry, `down` once
 * the connection is gone (each at most once per attempt: `attempt` tells stale events apart).
 */
export abstract class BenchClient {
  /**
   * Called when a client comes up and when it reaches the seq it was told to wait for
   * (`awaitSeq`): the process's wait for every client up and caught up (load-process.ts) checks it
   * off then.
   */
  static onProgress: ((client: BenchClient) => void) | undefined;
  /** Seqs of `message` entries, as they came. */
  readonly seqs: number[] = [];
  /** The seq this client is waited for to reach, if it is. */
  awaitSeq: number | undefined;
  connected = false;
  /** Set while the client is down (since a cut or an unexpected close). */
  downAt: number | undefined;
  protected attempt = 0;
  private startedAt = 0;
  private everUp = false;
  private closing = false;
  private cutting = false;
  private windowFrom = Number.POSITIVE_INFINITY;
  private windowTo = Number.NEGATIVE_INFINITY;
  /** When the current reconnect began (the end of the time away). */
  private reopenedAt = 0;
  private cutTimer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private firstSettled: ((ok: boolean) => void) | undefined;

  constructor(
    protected readonly setup: ClientSetup,
    protected readonly tally: KindTally,
  ) {}

  /** True once a connection of this client was subscribed (a client that never was is a failed connect, not a loss). */
  get everConnected(): boolean {
    return this.everUp;
  }

  /** Opens the first connection; resolves true once subscribed, false when it failed and will not be retried. */
  start(): Promise<boolean> {
    this.startedAt = now();
    return new Promise((resolve) => {
      this.firstSettled = resolve;
      this.open(undefined);
    });
  }

  /** Cuts begin (a client cuts only between startCutting and stopCutting, so connecting is not disturbed). */
  startCutting(): void {
    if (!this.setup.cut || this.cutting) return;
    this.cutting = true;
    if (this.connected) this.cutTimer = setTimeout(() => this.cut(), around(this.setup.cut.everyMs));
  }

  /**
   * No more cuts. A client that is away comes back when its time away ends, as it would have:
   * brought back at once, the clients away at that moment (one in eight, with the jitter bench's
   * defaults) came back together, a herd the cut plan never makes, and the tail of the catch-up.
   */
  stopCutting(): void {
    this.cutting = false;
    clearTimeout(this.cutTimer);
  }

  /** Closes for good. */
  close(): void {
    this.closing = true;
    clearTimeout(this.cutTimer);
    clearTimeout(this.reopenTimer);
    this.attempt++;
    this.shut();
  }

  /** The client's state in a few words, for the report's samples of incomplete clients. */
  state(): string {
    const t = now();
    return this.connected ? 'up' : this.downAt !== undefined ? `down for ${((t - this.downAt) / 1000).toFixed(1)} s` : 'never up';
  }

  /** Opens one connection from `after` (a cursor; undefined: from now on). */
  protected abstract open(after: string | undefined): void;
  /** Cuts the current connection abruptly (no close handshake). */
  protected abstract cutConnection(): void;
  /** Closes the current connection quietly. */
  protected abstract shut(): void;
  /** The resume cursor: the position of the last entry received. */
  protected abstract cursor(): string | undefined;

  protected up(attempt: number): void {
    if (attempt !== this.attempt || this.connected) return;
    this.connected = true;
    const t = now();
    if (!this.everUp) {
      this.everUp = true;
      this.tally.connectMs.push(t - this.startedAt);
      this.firstSettled?.(true);
      this.firstSettled = undefined;
    } else if (this.downAt !== undefined) {
      this.tally.reconnectMs.push(t - this.downAt);
      this.windowFrom = this.downAt;
      this.windowTo = t;
    }
    this.downAt = undefined;
    if (this.setup.cut && this.cutting) this.cutTimer = setTimeout(() => this.cut(), around(this.setup.cut.everyMs));
    BenchClient.onProgress?.(this);
  }

  protected entry(attempt: number, seq: number, text: string | undefined): void {
    if (attempt !== this.attempt) return;
    const t = now();
    this.seqs.push(seq);
    if (this.awaitSeq !== undefined && seq >= this.awaitSeq) {
      this.awaitSeq = undefined;
      BenchClient.onProgress?.(this);
    }
    this.tally.deliveries++;
    this.tally.lastDeliveryAt = t;
    if (text === undefined || !text.startsWith('t:')) return;
    const sent = Number(text.slice(2));
    this.tally.latencyMs.push(t - sent);
    this.tally.sentMs.push(sent);
    if (sent >= this.windowFrom && sent < this.windowTo) {
      this.tally.replayMs.push(t - sent);
      this.tally.catchUpMs.push(t - Math.max(sent, this.reopenedAt));
    }
  }

  /** A presence notice came (a member arrived, left or changed). */
  protected notice(): void {
    this.tally.notices++;
    this.tally.lastNoticeAt = now();
  }

  protected down(attempt: number, reason: string): void {
    if (attempt !== this.attempt || this.closing) return;
    this.attempt++;
    this.connected = false;
    clearTimeout(this.cutTimer);
    this.error(reason);
    if (this.downAt === undefined) this.downAt = now();
    // A first connection that fails is a failed connect: it is counted, not retried.
    if (!this.everUp) {
      this.firstSettled?.(false);
      this.firstSettled = undefined;
      return;
    }
    if (this.setup.reconnectMs !== undefined) this.reopenTimer = setTimeout(() => this.reopen(), around(this.setup.reconnectMs));
  }

  protected error(reason: string): void {
    this.tally.errors.set(reason, (this.tally.errors.get(reason) ?? 0) + 1);
  }

  private cut(): void {
    if (!this.connected || this.closing) return;
    this.tally.cuts++;
    this.attempt++;
    this.connected = false;
    this.downAt = now();
    this.cutConnection();
    this.reopenTimer = setTimeout(() => this.reopen(), around(this.setup.cut!.awayMs));
  }

  private reopen(): void {
    this.reopenTimer = undefined;
    if (this.closing) return;
    // The first attempt since going down: failed attempts after it count in the catch-up.
    if (this.downAt !== undefined && this.reopenedAt < this.downAt) this.reopenedAt = now();
    this.open(this.cursor());
  }
}
