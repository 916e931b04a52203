import { SwitchboardError } from '../protocol/errors.js';
import { TRANSPORTS, type TransportName } from '../protocol/types.js';
import { failureKind, type ClientError } from './errors.js';

/** A transport that dies this many times in a row soon after opening is given up for the next one down. */
const QUICK_DEATHS_TO_FALL_BACK = 2;
/** "Soon after opening", in ms. */
const QUICK_DEATH_MS = 10_000;

/**
 * What `auto` mode knows of the way to the server: the best transport known to get through,
 * as a rung of TRANSPORTS (WebSocket, SSE, long polling, short polling). Attempts start at that
 * rung and go down while transports are BLOCKED; a success settles the rung; upgrades try the
 * rungs above it again later.
 */
export class AutoLadder {
  /** Index in TRANSPORTS of the best transport known to get through. */
  level = 0;
  private quickDeaths = 0;

  /** What a connection attempt tries, in order. */
  candidates(): readonly TransportName[] {
    return TRANSPORTS.slice(this.level);
  }

  /** The transports better than `name`, best first. */
  above(name: TransportName): readonly TransportName[] {
    return TRANSPORTS.slice(0, TRANSPORTS.indexOf(name));
  }

  /** Connected over `name`. */
  settle(name: TransportName): void {
    this.level = TRANSPORTS.indexOf(name);
  }

  /** Back to the top (setTransport('auto')). */
  reset(): void {
    this.level = 0;
    this.quickDeaths = 0;
  }

  /**
   * The transport in use died after `aliveMs`. One that opens but keeps dying at once (a proxy
   * that cuts upgraded sockets, or times out held requests) is as blocked as one that never
   * opens: after QUICK_DEATHS_TO_FALL_BACK such deaths, the rung goes down one. A server that
   * went away (unreachable, shutting down) says nothing about the way to it.
   */
  died(err: ClientError, aliveMs: number): void {
    const benign = failureKind(err) === 'unreachable' || (err instanceof SwitchboardError && err.code === 'SHUTTING_DOWN');
    if (benign || aliveMs > QUICK_DEATH_MS) {
      this.quickDeaths = 0;
      return;
    }
    if (++this.quickDeaths >= QUICK_DEATHS_TO_FALL_BACK && this.level < TRANSPORTS.length - 1) {
      this.level++;
      this.quickDeaths = 0;
    }
  }
}
