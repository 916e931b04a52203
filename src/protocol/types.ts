/**
 * Wire types shared by the server, the client SDK, the web app and the CLI.
 * Pure data: no I/O here. Every shape below is documented in docs/protocol.md.
 */

/** The four ways to get server-initiated data over HTTP, as named by the SDK and the CLI. */
export type TransportName = 'websocket' | 'sse' | 'long-polling' | 'polling';

/** Every transport name, in fallback order (best first). */
export const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'long-polling', 'polling'];

/** Who sent an entry: the connection it came through and the display name given. */
export interface Sender {
  /** Connection id (server-assigned, or the client's session id for HTTP publishers). */
  id: string;
  /** Display name, 1..64 characters. */
  name: string;
  /** Stable member id (one person across reconnects and transports), when known. */
  member?: string;
  /** Transport the sender was on when the entry was made. */
  transport?: TransportName | 'http' | 'seed';
}

/** Kinds of entries in a room log. `message` is chat; `join`/`leave` are presence changes. */
export type EntryType = 'message' | 'join' | 'leave';

/** Any JSON value: what a message's `data` may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What every entry of a room log has. */
interface EntryBase {
  room: string;
  seq: number;
  ts: number;
  from: Sender;
}

/**
 * A chat message: `text` and/or `data`, optionally named by `event`. `text` is always there
 * (`''` when only `data` was sent); `data` and `event` are absent when not sent.
 */
export interface MessageEntry extends EntryBase {
  type: 'message';
  text: string;
  /** Application data, any JSON value but a top-level `null`. */
  data?: JsonValue;
  /** Application event name, 1-64 of `A-Z a-z 0-9 _ . : -`. */
  event?: string;
  /** Client message id: the idempotency key of a publish. */
  clientId?: string;
}

/** A presence change: a member arrived (`join`) or left (`leave`). It carries no text. */
export interface PresenceEntry extends EntryBase {
  type: 'join' | 'leave';
}

/**
 * One entry of a room log, told apart by `type`. `seq` is per room, starts at 1, increases by
 * one with no gaps within an epoch. `ts` is the server's clock (epoch ms) when it was stored.
 */
export type Entry = MessageEntry | PresenceEntry;

/** What a publisher hands to the log; the store assigns `seq` and `ts`. */
export type MessageDraft = Omit<MessageEntry, 'seq' | 'ts'>;
export type PresenceDraft = Omit<PresenceEntry, 'seq' | 'ts'>;
export type EntryDraft = MessageDraft | PresenceDraft;

/**
 * What a client publishes: a non-empty `text`, or `data`, or both; `event` names it for the
 * application. `maxMessageBytes` bounds the UTF-8 bytes of `text` plus the JSON of `data`.
 */
export interface MessagePayload {
  text?: string;
  data?: JsonValue;
  event?: string;
}

/** Position in a room log: the epoch of the history and the last seq seen (0 = before the first). */
export interface Position {
  epoch: string;
  seq: number;
}

/** A publish acknowledgement. `duplicate` is true when `clientId` had been stored before. */
export interface Ack {
  room: string;
  seq: number;
  ts: number;
  epoch: string;
  clientId?: string;
  duplicate: boolean;
  /** Cursor string pointing at this message (see cursor.ts). */
  cursor: string;
}

/** A member of a room as seen by presence. */
export interface PresenceMember {
  member: string;
  name: string;
  /** Transports this member is connected through right now (one per connection). */
  transports: TransportName[];
}

/** Room summary returned by the REST API. */
export interface RoomInfo {
  name: string;
  epoch: string;
  /** Seq of the newest entry (0 when empty). */
  lastSeq: number;
  /** Seq of the oldest entry still retained (lastSeq + 1 when empty). */
  firstSeq: number;
  members: number;
}

/** Answer of the polling routes (short and long polling). */
export interface PollResult {
  room: string;
  epoch: string;
  entries: Entry[];
  /** Cursor to send as `after` next time. */
  cursor: string;
  /** True when more entries are waiting than `limit` allowed. */
  more: boolean;
  /**
   * Set when the position asked for could not be honoured: `epoch` (the history was reset, so the
   * old position means nothing) or `expired` (entries after it were removed by retention).
   * Entries then start at the oldest retained one.
   */
  reset?: 'epoch' | 'expired';
  /** Who is typing right now (ephemeral state, for polling clients). */
  typing: Sender[];
}

/** Answer of the history route (pages go backwards from `before`). */
export interface HistoryPage {
  room: string;
  epoch: string;
  entries: Entry[];
  /** True when older entries exist before the first one returned. */
  more: boolean;
}

/**
 * Ephemeral presence notice (not stored in the log): sent when who is here, or on which
 * transports, changed without a join or leave (a member added a tab, switched transport).
 */
export interface PresenceNotice {
  room: string;
  members: PresenceMember[];
}

/** Ephemeral typing notice (not stored in the log). */
export interface TypingNotice {
  room: string;
  from: Sender;
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames of the native protocol (`/ws`), JSON text frames with a `type` field.
// ---------------------------------------------------------------------------------------------

/** Client to server. `id` (optional) is echoed in the reply, so requests can be matched. */
export type ClientFrame =
  | { type: 'subscribe'; id?: string; room: string; after?: string; create?: boolean }
  | { type: 'unsubscribe'; id?: string; room: string }
  | ({ type: 'publish'; id?: string; room: string; clientId?: string } & MessagePayload)
  | { type: 'typing'; room: string }
  | { type: 'ping'; id?: string }
  /** A new token before the current one expires (same member); answered by `refreshed`. */
  | { type: 'refresh'; id?: string; token: string };

/** Server to client. Entries travel as their own frames, with `type` equal to the entry type. */
export type ServerFrame =
  | {
      type: 'welcome';
      connectionId: string;
      member: string;
      name: string;
      heartbeatMs: number;
      maxMessageBytes: number;
    }
  | { type: 'subscribed'; id?: string; room: string; epoch: string; cursor: string; reset?: 'epoch' | 'expired'; presence: PresenceMember[] }
  | { type: 'unsubscribed'; id?: string; room: string }
  | ({ type: 'ack'; id?: string } & Ack)
  | { type: 'error'; id?: string; room?: string; code: string; message: string }
  | { type: 'pong'; id?: string }
  | { type: 'refreshed'; id?: string; expiresAt?: number }
  | ({ type: 'typing' } & TypingNotice)
  | ({ type: 'presence' } & PresenceNotice)
  | Entry;

/** The lecture's message shape, used by the seed routes. */
export interface SeedMessage {
  text: string;
  timestamp: number;
}
