import type { SwitchboardError } from '../protocol/errors.js';
import type { TokenOption } from './token-provider.js';
import type {
  Ack,
  DeleteEntry,
  EditEntry,
  Entry,
  HistoryPage,
  MessageEntry,
  MessagePayload,
  PresenceMember,
  ReactionEntry,
  ReadReceipt,
  ReadState,
  SearchResult,
  TransportName,
  TypingNotice,
} from '../protocol/types.js';

/** The wire types the SDK's API speaks in, for its users. */
export type {
  Ack,
  AmendmentEntry,
  DeleteEntry,
  EditEntry,
  Entry,
  HistoryPage,
  JsonValue,
  MessageEntry,
  MessagePayload,
  PresenceEntry,
  PresenceMember,
  PresencePage,
  ReactionEntry,
  ReactionSummary,
  ReadReceipt,
  ReadState,
  ReplyPreview,
  SearchResult,
  TransportName,
  TypingNotice,
  UnreadCount,
} from '../protocol/types.js';

/** Options of an edit or a delete. */
export interface AmendOptions {
  /** The idempotency key (1-64 of `A-Z a-z 0-9 _ - : .`); made up when not given. */
  clientId?: string;
}

/** Options of a publish. */
export interface PublishOptions extends AmendOptions {
  /** Makes the message a reply to the message of this seq (the server adds its preview, `reply`). */
  replyTo?: number;
}

/** Options of a reaction. */
export interface ReactOptions extends AmendOptions {
  /** true: add, false: take back; absent: toggle this member's reaction. */
  on?: boolean;
}

/** Options of a search. */
export interface SearchOptions {
  /** Only messages older than this seq (the last result's seq, for the next page). */
  before?: number;
  /** Results per page, 1-50 (default 20). */
  limit?: number;
}
export type { TokenOption };

/** What `connect` is asked for. Only `url`, `room` and `name` are required. */
export interface ConnectOptions {
  /** Server base URL, e.g. `http://localhost:3000`. */
  url: string;
  /** Room to join. */
  room: string;
  /** Display name, 1-64 characters. */
  name: string;
  /**
   * The user's token (JWT), when the server requires one; or a function returning one (maybe
   * asynchronously), which the client calls at connect, on every reconnect, and shortly before
   * the current token's `exp` (a live WebSocket then gets it through a `refresh` frame). With a
   * function, an expired token is not the end: the client asks for a new one and reconnects.
   */
  token?: TokenOption;
  /** Transport to use; `'auto'` (default) starts with WebSocket and falls back (docs/client.md). */
  transport?: TransportName | 'auto';
  /** Stable member id across reconnects and transports (default: a random id for this client). */
  member?: string;
  /** Create the room when it does not exist (default false: ROOM_NOT_FOUND). */
  create?: boolean;
  /** Resume after this cursor (default: from now on; history is separate, see `history()`). */
  after?: string;
  /** Short polling interval in ms (default 2000). */
  pollIntervalMs?: number;
  /** Reconnect backoff: full jitter, `min(maxDelayMs, initialDelayMs * 2^attempt)` (defaults 500, 15000). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** How long a live transport may stay silent before it is thought dead (default: 2x the server heartbeat, 50 s). */
  silenceTimeoutMs?: number;
  /** In auto mode, how often to try a better transport again after a fallback (default 60 s). */
  upgradeRetryMs?: number;
  /**
   * How long opening a transport may take before it counts as blocked (default 5000 ms): the
   * WebSocket `welcome` + `subscribed`, the SSE `ready` event, the first poll. In auto mode this
   * is how long a held WebSocket or a buffered event stream delays the fallback.
   */
  openTimeoutMs?: number;
  /** How long a publish waits for its ack before it is sent again with the same clientId (default 10000 ms). */
  publishTimeoutMs?: number;
  /**
   * Told of every wire event from the very first request, a first connection that fails
   * included (the `wire` event only starts once `connect` resolved). For inspectors and debugging.
   */
  onWire?: (event: WireEvent) => void;
}

/** Connection status, as shown to users. */
export type Status = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';

export interface StatusEvent {
  status: Status;
  transport: TransportName;
  /** When reconnecting: ms until the next attempt. */
  retryInMs?: number;
}

/** One thing seen on the wire, for the web app's wire inspector (and for debugging). */
export interface WireEvent {
  at: number;
  transport: TransportName;
  direction: 'in' | 'out';
  /** http: a request/answer pair; sse: one event; ws: one frame; heartbeat: ping/pong/keepalive. */
  kind: 'http' | 'sse' | 'ws' | 'heartbeat';
  method?: string;
  path?: string;
  status?: number;
  bytes: number;
  /** For HTTP: how long the request was held / took. */
  durationMs?: number;
  /** For SSE: the event id. */
  id?: string;
  /**
   * A short readable text (frame or event payload, truncated). For HTTP: the answer's status and
   * body (`200 {...}`); with a request body, what was sent first (`→ {...} ← 201 {...}`, and
   * `← 204 no body` for an answer without one).
   */
  summary: string;
  /** For HTTP with a request body: a one-line preview of the body sent (truncated). */
  requestSummary?: string;
  /** For HTTP: a one-line preview of the answer's body (truncated); '' when it had none, as a 204. */
  responseSummary?: string;
  /** For HTTP: the answer body's bytes (for `direction: 'out'`, `bytes` counts the request body only). */
  responseBytes?: number;
  /** The whole exchange, frame or event as text (an HTTP request's body and its answer), up to 16 KiB. */
  detail?: string;
}

/** Typed events of a client. */
export interface ClientEvents {
  /** Every log entry (message, join, leave, edit, delete, reaction), once each, in seq order. */
  entry: Entry;
  /** Chat messages only (entries of type 'message': text, and data and event when sent). */
  message: MessageEntry;
  /** A message was edited (also an `entry`): `target` is its seq, `text` the new text. */
  edit: EditEntry;
  /** A message was deleted (also an `entry`). */
  delete: DeleteEntry;
  /** A member added (`on`) or took back a reaction (also an `entry`). */
  reaction: ReactionEntry;
  /**
   * A member's read position moved (theirs or this member's, from another tab). WebSocket and
   * SSE only: the polling transports get none (ask `readState()`). At most one per member per
   * second.
   */
  receipt: ReadReceipt;
  /** Presence changed (after a join/leave entry, or on (re)connect). */
  presence: PresenceMember[];
  typing: TypingNotice;
  status: StatusEvent;
  /** The resume position could not be honoured (history reset or expired): entries restart from the oldest kept. */
  reset: { reason: 'epoch' | 'expired' };
  /** A failure that does not end the client (it keeps reconnecting) or a terminal one (status 'closed'). */
  error: SwitchboardError;
  wire: WireEvent;
}

/** A connected client of one room. */
export interface Client {
  readonly room: string;
  /**
   * Who the server takes this client for, from connect() on: with a token, the token's name and
   * `sub` (the `name` and `member` options are ignored then); otherwise as given (`member` made up
   * when none was given). `m.from.member === client.member` tells one's own messages.
   */
  readonly name: string;
  readonly member: string;
  /** The transport in use now. */
  readonly transport: TransportName;
  readonly status: Status;
  /** Cursor of the last entry received (resume position). */
  readonly cursor: string | undefined;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(event: K, handler: (value: ClientEvents[K]) => void): () => void;
  /**
   * Publishes a message: a text (`publish('hi')`), or data and an event name, with or without a
   * text (`publish({ event: 'move', data: { x: 1 } })`). Resolves with the ack once stored. Every
   * publish carries a client message id (made up when not given); retries reuse it, so a message
   * is stored once. While offline, publishes wait in an in-order queue and are sent on reconnect.
   * Rejects with TEXT_REQUIRED when there is neither a non-empty text nor data, BAD_REQUEST for
   * an event name out of pattern, and with the server's code for what only it checks
   * (MESSAGE_TOO_LARGE, INVALID_UTF8...).
   */
  publish(text: string, options?: PublishOptions): Promise<Ack>;
  publish(message: MessagePayload, options?: PublishOptions): Promise<Ack>;
  /**
   * Changes the text of message `seq` (this member's own, or any as a room admin). Goes through
   * the same in-order queue as publishes (retried with the same clientId: stored once).
   * Resolves with the ack of the `edit` entry. Rejects with MESSAGE_NOT_FOUND, MESSAGE_DELETED,
   * FORBIDDEN, TEXT_REQUIRED...
   */
  edit(seq: number, text: string, options?: AmendOptions): Promise<Ack>;
  /** Deletes message `seq` (its text is erased on the server). Like `edit`; resolves with the ack of the `delete` entry. */
  delete(seq: number, options?: AmendOptions): Promise<Ack>;
  /**
   * Reacts to message `seq` with an emoji (1-32 characters, no whitespace): adds it
   * (`on: true`), takes it back (`on: false`), or toggles it (no `on`; the server decides).
   * Like `edit`; REACTION_LIMIT past 20 different emoji on a message.
   */
  react(seq: number, emoji: string, options?: ReactOptions): Promise<Ack>;
  /**
   * Moves this member's read position forward to `seq` (shared by all its tabs and devices).
   * Calls coalesce: one request at a time, with the highest position asked for; positions at or
   * below one already stored resolve at once. Resolves with the position stored (never lower
   * than before; at most the room's last seq).
   */
  markRead(seq: number): Promise<number>;
  /** This member's read position and unread counts, and the room's readers (`GET .../read`), on every transport. */
  readState(): Promise<ReadState>;
  /** Messages matching every word of `q` (as prefixes), newest first, folded (`GET .../search`). */
  search(q: string, options?: SearchOptions): Promise<SearchResult>;
  /** A page of history, newest last, before `before` (a seq): messages folded (edits, deletes, reactions applied) and presence entries; no amendment entries. */
  history(options?: { before?: number; limit?: number }): Promise<HistoryPage>;
  /** Members present now, as last known. */
  presence(): PresenceMember[];
  /** Tells the room this member is typing. */
  typing(): void;
  /** Switches transport live, resuming from the last entry received: nothing lost or doubled. */
  setTransport(transport: TransportName | 'auto'): Promise<void>;
  /**
   * While reconnecting (or offline), tries to connect now instead of waiting out the backoff (a
   * "Retry now" button). Does nothing while connected, while an attempt runs, or once closed.
   */
  retryNow(): void;
  /** Leaves and closes. Pending publishes are rejected. */
  close(): Promise<void>;
}
