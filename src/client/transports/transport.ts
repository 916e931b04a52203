import type { SwitchboardError } from '../../protocol/errors.js';
import type { Ack, Entry, MessagePayload, PresenceMember, PresenceNotice, ReadReceipt, TransportName, TypingNotice } from '../../protocol/types.js';
import type { ClientError } from '../errors.js';
import type { HttpTarget, WireInit } from '../http-request.js';

/**
 * What the outbox hands a transport, in order, each with its clientId: a publish (a reply when
 * `replyTo` is set) or an amendment of the message `seq` (`on` absent: toggle).
 */
export type Command =
  | { type: 'publish'; message: MessagePayload; replyTo?: number }
  | { type: 'edit'; seq: number; text: string }
  | { type: 'delete'; seq: number }
  | { type: 'react'; seq: number; emoji: string; on?: boolean };

/** What every transport of one client shares (options resolved, defaults applied). */
export interface TransportSettings {
  /** Server base URL, http: or https:. */
  base: URL;
  room: string;
  name: string;
  member: string;
  /**
   * This client's connection id (`connection=`), the same on every transport it opens and every
   * reconnection: the server lists a client that switched or reconnected once, with the transport
   * it uses now, not the old one beside it for its grace period (its presence records share it).
   */
  connectionId: string;
  token: string | undefined;
  /** Ask the server to create the room on subscribe (WebSocket only; HTTP transports PUT it first). */
  create: boolean;
  /** How long a transport may take to be subscribed (welcome + subscribed, ready, first poll). */
  openTimeoutMs: number;
  /** Short polling interval. */
  pollIntervalMs: number;
  /** A healthy transport shows some activity at least this often (heartbeats sized from it). */
  silenceTimeoutMs: number;
  /** How long a publish may wait for its ack. */
  publishTimeoutMs: number;
}

/** Where the server says delivery starts (subscribed frame, ready event, first poll). */
export interface SubscribedInfo {
  connectionId: string;
  /**
   * Who the server takes this client for (WebSocket `welcome`, SSE `ready`, the polls' presence
   * join): with a token, its `sub` and name, whatever the options said.
   */
  identity?: { member: string; name: string };
  epoch: string;
  /** Last seq the server will not send (the resume point, or "now"). */
  seq: number;
  reset?: 'epoch' | 'expired';
  /** Members present, when the transport learnt them. */
  presence?: PresenceMember[];
  /** `presence` is a part of a big room (the server's `presenceTruncated`). */
  presenceTruncated?: boolean;
}

/**
 * Callbacks of one transport instance to its client. They are called synchronously, in wire
 * order: `subscribed` before the entries that follow it.
 */
export interface TransportEvents {
  /** The subscription (re)started: once while opening, again if the position had to be reset. */
  subscribed(info: SubscribedInfo): void;
  /** One log entry, with the epoch it belongs to. Entries come in seq order (resumes may repeat some). */
  entry(entry: Entry, epoch: string): void;
  typing(notice: TypingNotice): void;
  /** A member's read position moved (WebSocket and SSE only: polling has no receipts). */
  receipt(receipt: ReadReceipt): void;
  /** Who is here changed (a presence notice: the whole list, or what changed). */
  presence(notice: PresenceNotice): void;
  /**
   * Who is here changed, but the transport got no notice of what (a poll answer's `presenceAt`
   * grew): the list is to be read again. Returns the read, settled once the list is read (or the
   * read failed): the poller holds the entries of its answers until then (a member who speaks as
   * it arrives is seen arriving first), at most PRESENCE_WAIT_MS.
   */
  presenceStale(): Promise<void> | undefined;
  /** Any sign of life from the server (a frame, an event, a comment, an answer). */
  activity(): void;
  /** A catalog error that does not end the transport (an `error` frame with no request id). */
  error(err: SwitchboardError): void;
  wire(event: WireInit): void;
  /** The open transport is gone. Never called before `open` resolved, nor after `close`. */
  lost(err: ClientError): void;
}

/**
 * One connection attempt over one transport, from `open` to `lost` or `close`: a transport
 * instance is never reused; the client makes a new one to reconnect.
 */
export interface Transport {
  readonly name: TransportName;
  /** The longest a healthy transport stays silent (heartbeat, keepalive, poll period), in ms. */
  readonly quietMs: number;
  /**
   * Connects and subscribes after `cursor` (undefined: from now on). Resolves once `subscribed`
   * was called. Rejects with a ClientError (see failureKind: a terminal catalog error,
   * UNREACHABLE, BLOCKED...); the transport is then closed.
   */
  open(cursor: string | undefined): Promise<void>;
  /**
   * Publishes a message or amends one; resolves with the ack of the entry stored. Rejects with
   * the server's error or a ConnectionError.
   */
  send(command: Command, clientId: string): Promise<Ack>;
  /** Moves this member's read position forward; resolves with the position stored (never lower). */
  markRead(seq: number): Promise<number>;
  typing(): void;
  /** Asks the server for a sign of life now; false when this transport cannot (it then just waits). */
  probe(): boolean;
  /**
   * The page is going away (`pagehide`): says so now, in a request that outlives the page. Only
   * pollers need it: nothing ends with the page for the server to see, so a closed tab would stay
   * present until its polls' time ran out. (It may come back from the back-forward cache: its
   * next poll makes it present again.)
   */
  pageHidden?(): void;
  /**
   * Hands a new token to the open connection, where it can take one without reconnecting
   * (WebSocket: a `refresh` frame). Undefined: requests made from now on carry the new token,
   * and a stream opened with the old one is ended by the server at its expiry.
   */
  refresh?(token: string): Promise<void>;
  /** Closes; pending publishes reject with CLOSED. Resolves when the connection is gone (bounded). */
  close(): Promise<void>;
}

/** An HttpTarget for a transport's settings. */
export function httpTarget(settings: TransportSettings, wire: (event: WireInit) => void): HttpTarget {
  // The token is read at each request: a refreshed one is used from then on.
  return {
    base: settings.base,
    get token() {
      return settings.token;
    },
    wire,
  };
}

export type TransportFactory = (settings: TransportSettings, events: TransportEvents) => Transport;

/** The ReadReceipt of a `receipt` frame or event (its other fields, like `type`, left out). */
export function receiptOf(data: Record<string, unknown>): ReadReceipt {
  return { room: String(data.room), member: String(data.member), name: String(data.name), seq: Number(data.seq) };
}

/** The `member` and `name` of a welcome frame, ready event or presence join, when it has both. */
export function identityOf(data: { member?: unknown; name?: unknown }): SubscribedInfo['identity'] {
  return typeof data.member === 'string' && data.member !== '' && typeof data.name === 'string' ? { member: data.member, name: data.name } : undefined;
}
