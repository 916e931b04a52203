/**
 * What a load coordinator and its client processes say to each other over the IPC channel
 * (`serialization: 'advanced'`, so typed arrays cross as they are).
 */

/** The kinds of client a load process can run. `sio` is a Socket.IO 4 client (WebSocket transport, connection state recovery). */
export type ClientKind = 'websocket' | 'sse' | 'long-polling' | 'polling' | 'sio';

/** How clients leave and come back on their own. */
export interface CutPlan {
  /** Mean time connected before a client cuts its own connection (uniform in 0.5×..1.5×), ms. */
  everyMs: number;
  /** Mean time away before it reconnects (uniform in 0.5×..1.5×), ms. */
  awayMs: number;
}

/** One client process's share of the load. */
export interface LoadPlan {
  /** Index of this process (0-based): its clients are named `p<index>-<n>`. */
  index: number;
  /** Base URL of the server, `http://127.0.0.1:PORT`. */
  baseUrl: string;
  /** Clients of each kind; each is given rooms round-robin from `rooms`, from `roomOffset`. */
  counts: Partial<Record<ClientKind, number>>;
  rooms: string[];
  roomOffset: number;
  /** Connections being opened at once in this process. */
  concurrency: number;
  /** `distinct`: one member per client; `shared`: one member for all clients of the process. */
  members: 'distinct' | 'shared';
  /** Reconnect after an unexpected close (server restart), after about this long (ms); undefined: stay down. */
  reconnectMs?: number;
  cut?: CutPlan;
  /** `timeout` of each long poll, ms. */
  longPollTimeoutMs: number;
  /** Time between two short polls of one client, ms. */
  pollIntervalMs: number;
}

export type ToClient =
  | { type: 'plan'; plan: LoadPlan }
  /** Start cutting (clients with a CutPlan). */
  | { type: 'jitter' }
  /** Stop cutting (the measured part is over); clients that are away come back when their time away ends. */
  | { type: 'calm' }
  /** Check deliveries against what was published (`expected`: room → acknowledged message seqs, ascending). */
  | { type: 'check'; expected: Record<string, number[]> }
  /**
   * How many clients (of those ever connected) have not received the last message of their room yet
   * (`last`: room → its seq), answered once every one is up and has it, or `waitMs` passed,
   * whichever first (0: at once). Waited for in the process, on each client's deliveries and
   * reconnections, not asked again and again: a question scans every client, and asked every
   * 50 ms while a broadcast was delivered it cost the load generator CPU in the very seconds it
   * measures.
   */
  | { type: 'behind'; last: Record<string, number>; waitMs: number }
  /** How many presence notices the clients received so far, and when the last one came. */
  | { type: 'notices' }
  | { type: 'close' };

/** Per kind, what a process saw. Times are wall-clock ms (performance.timeOrigin + performance.now()). */
export interface KindReport {
  kind: ClientKind;
  clients: number;
  connected: number;
  /** ms from starting to open each connection to its subscription answer. */
  connectMs: Float64Array;
  /** ms from publish to delivery, every delivery. */
  latencyMs: Float64Array;
  /** When each message of latencyMs was published (wall-clock ms), in the same order. */
  sentMs: Float64Array;
  /** ms from publish to delivery of the messages published while their client was away. */
  replayMs: Float64Array;
  /** ms from the client's return (the end of its time away, when it began to reconnect) to delivery, for the same messages. */
  catchUpMs: Float64Array;
  /** ms from an unexpected close or a cut to the subscription answer of the connection after it. */
  reconnectMs: Float64Array;
  deliveries: number;
  /** Wall-clock time of the last delivery (0: none). */
  lastDeliveryAt: number;
  /** Clients that got every expected message exactly once, in order (of those that ever connected: `connected` in the connect summary). */
  complete: number;
  /** Received but never acknowledged to the publisher (see DeliveryCheck). */
  unacknowledged: number;
  lost: number;
  behind: number;
  doubled: number;
  outOfOrder: number;
  /** Clients that were down at the end (never came back). */
  down: number;
  cuts: number;
  errors: Record<string, number>;
  /** The first problems seen, for the report. */
  samples: string[];
}

export type FromClient =
  | { type: 'progress'; connected: number; failed: number }
  | { type: 'connected'; at: number; firstStart: number; lastConnected: number; failed: number }
  | { type: 'report'; kinds: KindReport[] }
  | { type: 'behind'; clients: number }
  | { type: 'notices'; count: number; lastAt: number }
  | { type: 'fatal'; message: string };
