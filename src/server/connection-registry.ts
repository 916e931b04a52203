import { SwitchboardError } from '../protocol/errors.js';
import type { Principal } from './auth/principal.js';
import { IntrusiveList, type Linked } from './intrusive-list.js';
import type { Metrics } from './metrics.js';
import type { Limits } from './session/limits.js';

/**
 * A long-lived connection the server must end when it shuts down. The registry links it into its
 * list of open connections through the `Linked` fields (a held long poll is open for one request:
 * no Set entry per request).
 */
export interface Closable extends Linked<Closable> {
  readonly principal?: Principal;
  /** Ends the connection gracefully, telling the client to reconnect (elsewhere). */
  shutdown(): void;
  /** Cuts the connection at once (graceful time is over). */
  destroy(): void;
  /** Ends it for `err` (an administrator's disconnect). */
  close?(err?: SwitchboardError): void;
  /**
   * Its write deadline, checked about once a second while the registry watches it (from
   * `watchStalled` on): returns true while its writes are still stuck, false once they flow
   * again or it was closed for them (then it is no longer watched).
   */
  sweep?(now: number): boolean;
  /** Rooms it is in, for a disconnect limited to one room. */
  inRoom?(room: string): boolean;
  /**
   * True when an administrator's disconnect of `member` is meant for it: the member it is present
   * as (a held poll's presence ticket), else its principal's. Without it, the principal's.
   */
  actsFor?(member: string): boolean;
}

/**
 * The long-lived connections of this node (WebSocket, SSE, held long polls): counts them against
 * `maxConnections` and, through Limits, against the caps per address and per member; sweeps
 * their write deadlines; ends them on shutdown or when an administrator disconnects a member.
 */
export class ConnectionRegistry {
  private readonly open = new IntrusiveList<Closable>();
  /** The open connections whose writes stopped draining: the only ones the sweeper looks at. */
  private readonly stalled = new Set<Closable>();
  private readonly sweeper: NodeJS.Timeout;
  draining = false;
  /**
   * Set when this node takes no new connection and is to be drained (a rolling restart): it
   * still serves its connections, but each HTTP/1.x answer closes its connection, so keep-alive
   * clients (pollers above all) take their next request to a node that stays, one at a time,
   * before the drain cuts what is left.
   */
  leaving = false;

  /** Whether HTTP/1.x answers close their connections after them: draining, or leaving. */
  get closesAfterAnswers(): boolean {
    return this.draining || this.leaving;
  }

  constructor(
    private readonly max: number,
    private readonly metrics: Metrics,
    private readonly limits: Limits,
  ) {
    // Only the stalled ones: walking every open connection each second was most of an idle
    // node's JavaScript (10,000 idle connections: 31 of 44 ms over 8 s).
    this.sweeper = setInterval(() => {
      if (this.stalled.size === 0) return;
      const now = Date.now();
      // A copy: a sweep may close its connection, and a close may release others.
      for (const c of [...this.stalled]) if (!c.sweep?.(now)) this.stalled.delete(c);
    }, 1000);
    this.sweeper.unref();
  }

  /**
   * Throws SHUTTING_DOWN while draining, TOO_MANY_CONNECTIONS at the cap, and for a principal
   * RATE_LIMITED past its address's new-connection budget.
   */
  check(principal?: Principal): void {
    if (this.draining) throw new SwitchboardError('SHUTTING_DOWN');
    if (this.open.size >= this.max) throw new SwitchboardError('TOO_MANY_CONNECTIONS', `limit is ${this.max}`);
    if (principal) this.limits.take('connect', `ip:${principal.address}`);
  }

  /**
   * Admits a connection: the caps of `check` (without spending the budget again) plus the caps
   * per address and member (TOO_MANY_CONNECTIONS_FROM_YOU). `release` gives its slot back.
   */
  admit(transport: string, conn: Closable): void {
    if (this.draining) throw new SwitchboardError('SHUTTING_DOWN');
    if (this.open.size >= this.max) throw new SwitchboardError('TOO_MANY_CONNECTIONS', `limit is ${this.max}`);
    if (this.open.has(conn)) return;
    if (conn.principal) this.limits.openConnection(conn.principal);
    this.open.add(conn);
    this.metrics.openConnections(transport).value++;
  }

  /**
   * Releases an admitted connection, once (again, or one never admitted: nothing). Its principal
   * may have been refreshed meanwhile, always with the same member and address.
   */
  release(transport: string, conn: Closable): void {
    // No closure per connection to release it: the open set says whether it is still counted.
    if (!this.open.delete(conn)) return;
    this.stalled.delete(conn);
    if (conn.principal) this.limits.closeConnection(conn.principal);
    this.metrics.openConnections(transport).value--;
  }

  /**
   * `conn`'s last write left its socket over the high-water mark (the client reads slower than
   * it is sent to): its write deadline is checked each second until its writes drain again.
   */
  watchStalled(conn: Closable): void {
    if (this.open.has(conn)) this.stalled.add(conn);
  }

  get size(): number {
    return this.open.size;
  }

  /** Ends the connections of `member` (those in `room` only, when given); resolves how many. */
  disconnect(member: string, room?: string): number {
    let n = 0;
    for (const c of [...this.open]) {
      const own = c.actsFor ? c.actsFor(member) : c.principal?.member === member;
      if (!own || (room !== undefined && !c.inRoom?.(room))) continue;
      c.close?.(new SwitchboardError('MEMBER_DISCONNECTED'));
      n++;
    }
    return n;
  }

  shutdownAll(): void {
    this.draining = true;
    for (const c of [...this.open]) c.shutdown();
  }

  destroyAll(): void {
    for (const c of [...this.open]) c.destroy();
    clearInterval(this.sweeper);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
