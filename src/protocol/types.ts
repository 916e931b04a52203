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

/**
 * Kinds of entries in a room log. `message` is chat; `join`/`leave` are presence changes;
 * `edit`, `delete` and `reaction` are amendments: each points at an earlier message by `target`.
 */
export type EntryType = 'message' | 'join' | 'leave' | 'edit' | 'delete' | 'reaction';

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
  /** The seq of the message this one answers (a reply). */
  replyTo?: number;
  /** What the answered message said when this reply was made (set by the server with `replyTo`). */
  reply?: ReplyPreview;
  // Folded state: the amendments made since, as a read of the log returns the message (history,
  // polls, resumes, search). A message as first broadcast has none of these.
  /** Set once edited: the seq and time of the newest edit; `text` is then the edited text. */
  edited?: { seq: number; ts: number };
  /** Set once deleted: `text` is '' and `data`, `event` and `reply` are gone, from the store too. */
  deleted?: true;
  /** Reactions, by emoji, in order of first reaction; absent when there are none. */
  reactions?: ReactionSummary[];
  /**
   * The seq of the newest amendment (edit, delete, reaction) folded into this message. A client
   * folding entries into its copy skips amendments with a seq at or below it (already applied).
   */
  folded?: number;
}

/** What a reply shows of the message it answers, as that message was when the reply was made. */
export interface ReplyPreview {
  seq: number;
  from: { name: string; member?: string };
  /** The first 200 characters of its text; '' once it was deleted. */
  text: string;
  /** Set when the answered message was deleted since. */
  deleted?: true;
}

/** One emoji's reactions on a message. */
export interface ReactionSummary {
  emoji: string;
  /** How many members reacted with it (exact). */
  count: number;
  /** Who, oldest first; at most the first 50. */
  by: Array<{ member: string; name: string }>;
}

/** An amendment: it changes the earlier message `target`, and is itself an entry of the log. */
interface AmendmentBase extends EntryBase {
  /** The seq of the message amended. */
  target: number;
  /** Idempotency key, as for a publish (a retried amendment is stored once). */
  clientId?: string;
}

/** The author (or a room admin) changed a message's text. Erased ('' ) when the message is deleted. */
export interface EditEntry extends AmendmentBase {
  type: 'edit';
  text: string;
}

/** The author (or a room admin) deleted a message: its text is erased from the store; this stays as its tombstone. */
export interface DeleteEntry extends AmendmentBase {
  type: 'delete';
}

/** A member added (`on: true`) or took back (`on: false`) a reaction on a message. */
export interface ReactionEntry extends AmendmentBase {
  type: 'reaction';
  emoji: string;
  on: boolean;
}

/** Any amendment of a message. */
export type AmendmentEntry = EditEntry | DeleteEntry | ReactionEntry;

/** A presence change: a member arrived (`join`) or left (`leave`). It carries no text. */
export interface PresenceEntry extends EntryBase {
  type: 'join' | 'leave';
}

/**
 * One entry of a room log, told apart by `type`. `seq` is per room, starts at 1, increases by
 * one with no gaps within an epoch. `ts` is the server's clock (epoch ms) when it was stored.
 */
export type Entry = MessageEntry | PresenceEntry | AmendmentEntry;

/** What a publisher hands to the log; the store assigns `seq` and `ts` (and folds nothing into a new message). */
export type MessageDraft = Omit<MessageEntry, 'seq' | 'ts' | 'edited' | 'deleted' | 'reactions' | 'folded'>;
export type PresenceDraft = Omit<PresenceEntry, 'seq' | 'ts'>;
export type EditDraft = Omit<EditEntry, 'seq' | 'ts'>;
export type DeleteDraft = Omit<DeleteEntry, 'seq' | 'ts'>;
/** A reaction to store: `on` absent toggles the sender's reaction (the store decides, atomically). */
export type ReactionDraft = Omit<ReactionEntry, 'seq' | 'ts' | 'on'> & { on?: boolean };
export type AmendmentDraft = EditDraft | DeleteDraft | ReactionDraft;
export type EntryDraft = MessageDraft | PresenceDraft | AmendmentDraft;

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

/**
 * What `GET /api/rooms/:room/presence` answers: the room's members, at most `limit` of them (1 to
 * 1000, default 100). A room of more says `truncated`, with `count`: how many members it has (it
 * may count for a while members whose connections expired and were not reaped yet).
 */
export interface PresencePage {
  room: string;
  members: PresenceMember[];
  truncated?: true;
  count?: number;
}

/** A member of a room as seen by presence. */
export interface PresenceMember {
  member: string;
  name: string;
  /** Transports this member is connected through right now (one per connection). */
  transports: TransportName[];
  /**
   * The node of each connection, in the order of `transports` (a worker's id, or host/pid).
   * Only in what a room `admin` (or the API key) reads from `GET /api/rooms/:room/presence`.
   */
  nodes?: string[];
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
  /**
   * When the room's latest presence notice was sent (epoch ms, the `at` of PresenceNotice), as
   * far as the answering node knows; absent before any. Polling clients get no presence notices:
   * one that sees this grow reads `GET /api/rooms/:room/presence` (the SDK does).
   */
  presenceAt?: number;
  /**
   * When the answering node last had a typing notice of the room (epoch ms, growing with every
   * notice); absent before any. A long poll that gives it back (`typingAt=`) is answered at once
   * when a newer one came: one sent between an answer and the next poll woke no held poll.
   */
  typingAt?: number;
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
 * Ephemeral presence notice (not stored in the log): who is here changed. Usually a change
 * (PresenceChange); the whole list (PresenceList) only to one subscriber whose snapshot went
 * stale while it caught up, and to a room that was too big for changes (over
 * PRESENCE_NOTICE_MAX_MEMBERS) and is not any more.
 */
export type PresenceNotice = PresenceList | PresenceChange;

/** A presence notice with the whole member list: it replaces what the client knew. */
export interface PresenceList {
  room: string;
  members: PresenceMember[];
  /** When the node that sent it made it (epoch ms): polls answer it as `presenceAt`. */
  at?: number;
}

/**
 * A presence notice with what changed: each member who arrived or whose connections changed,
 * whole (as in the list, replacing what the client knew of it), the members who left, and the
 * room's member count after the change. A client whose list then has another size than `count`
 * missed something, and reads `GET /api/rooms/:room/presence`.
 */
export interface PresenceChange {
  room: string;
  changed: PresenceMember[];
  left: string[];
  count: number;
  /** As in PresenceList. */
  at?: number;
}

/**
 * A member's read position in a room: every entry up to `seq` was read. One per member, shared by
 * all of the member's tabs and devices; it only moves forward. Sent live to WebSocket and SSE
 * subscribers as a `receipt` notice (ephemeral, not in the log); `GET .../read` tells the rest.
 */
export interface ReadReceipt {
  room: string;
  member: string;
  name: string;
  seq: number;
}

/** Answer of `GET /api/rooms/:room/read`: the caller's position, its unread counts, and the room's readers. */
export interface ReadState extends UnreadCount {
  /** Read positions of the room's members, furthest first, at most 100. */
  members: ReadReceipt[];
}

/** The caller's unread counts in one room (`GET /api/read?rooms=`). */
export interface UnreadCount {
  room: string;
  /** The caller's read position (0: nothing read). */
  seq: number;
  /** Messages after `seq`, not deleted and not the caller's own. */
  unread: number;
  /** Of those, the ones that mention the caller (`@name` or `@member`). */
  mentions: number;
  /** True when counting stopped at 500 entries after `seq`: there are at least this many. */
  capped: boolean;
}

/** Answer of `GET /api/rooms/:room/search`. */
export interface SearchResult {
  room: string;
  epoch: string;
  query: string;
  /** Matching messages, newest first, folded as history returns them (deleted ones never match). */
  results: MessageEntry[];
  /** True when older matches exist: ask again with `before` set to the last result's seq. */
  more: boolean;
  /** False when the store searched only part of the retained history (see docs/protocol.md). */
  complete: boolean;
}

/** Ephemeral typing notice (not stored in the log). */
export interface TypingNotice {
  room: string;
  from: Sender;
}

// ---------------------------------------------------------------------------------------------
/**
 * Where a subscription starts, sent before any of its entries: the WebSocket `subscribed` frame
 * and the SSE `ready` event carry it.
 */
export interface SubscriptionStart {
  room: string;
  epoch: string;
  /** The start position: the entries after it follow. */
  cursor: string;
  /** Set when the position asked for could not be honoured (as in PollResult). */
  reset?: 'epoch' | 'expired';
  /** Who is here; in a room of more than 100 members (PRESENCE_NOTICE_MAX_MEMBERS), 100 of them, the subscriber first, and `presenceTruncated`. */
  presence: PresenceMember[];
  /** Set when `presence` lists only part of a big room (`GET /api/rooms/:room/presence` lists all). */
  presenceTruncated?: true;
}

/** Data of the SSE `ready` event, the stream's first: who the server takes the client for, and where the subscription starts. */
export interface SseReady extends SubscriptionStart {
  connectionId: string;
  member: string;
  name: string;
}

// WebSocket frames of the native protocol (`/ws`), JSON text frames with a `type` field.
// ---------------------------------------------------------------------------------------------

/** Client to server. `id` (optional) is echoed in the reply, so requests can be matched. */
export type ClientFrame =
  | { type: 'subscribe'; id?: string; room: string; after?: string; create?: boolean }
  | { type: 'unsubscribe'; id?: string; room: string }
  | ({ type: 'publish'; id?: string; room: string; clientId?: string; replyTo?: number } & MessagePayload)
  /** Amendments, each answered by an `ack` of the amendment's own entry. */
  | { type: 'edit'; id?: string; room: string; seq: number; text: string; clientId?: string }
  | { type: 'delete'; id?: string; room: string; seq: number; clientId?: string }
  /** `on` absent toggles. */
  | { type: 'react'; id?: string; room: string; seq: number; emoji: string; on?: boolean; clientId?: string }
  /** Moves the sender's read position forward; answered by `marked`. */
  | { type: 'mark-read'; id?: string; room: string; seq: number }
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
  | ({ type: 'subscribed'; id?: string } & SubscriptionStart)
  | { type: 'unsubscribed'; id?: string; room: string }
  | ({ type: 'ack'; id?: string } & Ack)
  | { type: 'error'; id?: string; room?: string; code: string; message: string }
  | { type: 'pong'; id?: string }
  | { type: 'refreshed'; id?: string; expiresAt?: number }
  /** Answer to `mark-read`: the read position now stored (never lower than before). */
  | { type: 'marked'; id?: string; room: string; seq: number }
  | ({ type: 'receipt' } & ReadReceipt)
  | ({ type: 'typing' } & TypingNotice)
  | ({ type: 'presence' } & PresenceNotice)
  | Entry;

/** The lecture's message shape, used by the seed routes. */
export interface SeedMessage {
  text: string;
  timestamp: number;
}
