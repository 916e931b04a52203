import { CLIENT_ID_PATTERN } from '../protocol/constants.js';
import { SwitchboardError } from '../protocol/errors.js';
import { dataProblem, EVENT_NAME_PATTERN, MAX_DATA_DEPTH } from '../protocol/payload.js';
import {
  TRANSPORTS,
  type Ack,
  type Entry,
  type HistoryPage,
  type JsonValue,
  type MessagePayload,
  type PresenceMember,
  type PresencePage,
  type ReadReceipt,
  type ReadState,
  type SearchResult,
  type TransportName,
} from '../protocol/types.js';
import { AutoLadder } from './auto-ladder.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { isOffline, watchBrowserEnvironment } from './browser-environment.js';
import { Emitter } from './emitter.js';
import { ConnectionError, failureKind, isRetryablePublishFailure, toClientError, type ClientError } from './errors.js';
import { httpRequest, type HttpTarget, type WireInit } from './http-request.js';
import { randomId } from './ids.js';
import { resolveOptions } from './options.js';
import { Outbox, type PendingCommand } from './outbox.js';
import { ReadMarker } from './read-marker.js';
import { PresenceList } from './presence-list.js';
import { ResumePosition } from './resume-position.js';
import { refreshDelay } from './token-provider.js';
import { SilenceWatchdog } from './silence-watchdog.js';
import { createTransport } from './transports/create-transport.js';
import { httpTarget, type Command, type SubscribedInfo, type Transport, type TransportEvents, type TransportSettings } from './transports/transport.js';
import type { AmendOptions, Client, ClientEvents, ConnectOptions, PublishOptions, ReactOptions, SearchOptions, Status, WireEvent } from './types.js';

/**
 * What `publish` sends, checked as far as a client can (the server checks the rest): a
 * non-empty text or data (TEXT_REQUIRED), an event name of the pattern and data that JSON can
 * hold within MAX_DATA_DEPTH (BAD_REQUEST), well-formed strings in it (INVALID_UTF8). `data` is
 * copied through JSON now, so a retry sends what was published even if the caller's object
 * changed since, and what JSON drops (an `undefined` member) is dropped here. A top-level null
 * counts as no data, as on the server; only the keys given are kept.
 */
function payloadOf(input: string | MessagePayload): MessagePayload | SwitchboardError {
  const { text, data: raw, event } = typeof input === 'string' ? { text: input } : input !== null && typeof input === 'object' ? input : {};
  if (text !== undefined && typeof text !== 'string') return new SwitchboardError('TEXT_REQUIRED', 'text must be a string');
  let data: JsonValue | undefined;
  if (raw !== undefined && raw !== null) {
    try {
      // NaN and the like become null: no data, as a null would be.
      data = (JSON.parse(JSON.stringify(raw)) as JsonValue | null) ?? undefined;
    } catch {
      return new SwitchboardError('BAD_REQUEST', 'data: not a JSON value (a BigInt, a function, a cycle, or nested too deep?)');
    }
    const problem = dataProblem(data);
    if (problem === 'lone-surrogate') return new SwitchboardError('INVALID_UTF8', 'a string of the data holds a lone surrogate');
    if (problem !== undefined) return new SwitchboardError('BAD_REQUEST', problem === 'too-deep' ? `data: nests deeper than ${MAX_DATA_DEPTH} levels` : 'data: not a JSON value');
  }
  if (!text && data === undefined) return new SwitchboardError('TEXT_REQUIRED');
  if (event !== undefined && (typeof event !== 'string' || !EVENT_NAME_PATTERN.test(event))) return new SwitchboardError('BAD_REQUEST', 'event: 1-64 of A-Z a-z 0-9 _ . : -');
  return { ...(text ? { text } : {}), ...(data !== undefined ? { data } : {}), ...(event !== undefined ? { event } : {}) };
}

/** A message's seq, as the server takes it (BAD_REQUEST otherwise, before anything is sent). */
function seqProblem(seq: unknown, what: string, min = 1): SwitchboardError | undefined {
  return Number.isSafeInteger(seq) && (seq as number) >= min ? undefined : new SwitchboardError('BAD_REQUEST', `${what}: an integer from ${min}`);
}

/** A reaction: 1-32 UTF-16 units, no whitespace or control characters (as src/protocol/schemas.ts; and well-formed). */
const EMOJI = /^[^\s\p{Cc}]+$/u;

/** After timers were throttled, how long a liveness probe may take to be answered. */
const PROBE_GRACE_MS = 5000;
/** Typing notices go out at most this often. */
const TYPING_EVERY_MS = 2000;
/** How long a doubtful presence list waits for a notice that settles it before the whole list is read (checkPresenceSoon). */
const PRESENCE_CHECK_MS = 2000;
/**
 * How many members that read asks for: change notices, which make a list doubtful, come only in
 * rooms of at most 100 members (the server's PRESENCE_NOTICE_MAX_MEMBERS), as many as a snapshot holds.
 */
const PRESENCE_READ_LIMIT = 100;

/**
 * The Client of `connect()`. It owns one transport at a time (two during a live switch) and
 * everything that must survive a transport: the resume position, presence, the outbox of
 * publishes, the status, the reconnect schedule and, in `auto` mode, which transport gets through.
 *
 * Status machine: `connecting` → `connected`; on a loss `reconnecting` (with the delay of the
 * next attempt) → `connected`; `offline` instead while a browser reports no network; `closed`
 * after close() or a terminal error (UNAUTHORIZED, ROOM_NOT_FOUND...), for good.
 */
export class SwitchboardClient implements Client {
  readonly room: string;
  private identity: { member: string; name: string };
  private readonly settings: TransportSettings;
  private readonly backoff: BackoffOptions;
  private readonly upgradeRetryMs: number;
  private readonly emitter = new Emitter<ClientEvents>();
  /** Events raised before connect() resolved: delivered a macrotask later, once handlers are on. */
  private held: (() => void)[] | undefined = [];
  /** `onWire` of the options: every wire event, from the first request. */
  private readonly wireHook: ((event: WireEvent) => void) | undefined;
  private readonly position: ResumePosition;
  private readonly presenceList = new PresenceList();
  private readonly outbox: Outbox;
  private readonly readMarker: ReadMarker;
  private readonly watchdog: SilenceWatchdog;
  private mode: TransportName | 'auto';
  private readonly ladder = new AutoLadder();
  private current: Transport | undefined;
  private currentSince = 0;
  /** Transports whose events count: the current one and any being opened. */
  private readonly live = new Set<Transport>();
  private state: Status = 'connecting';
  private reportedTransport: TransportName | undefined;
  private attemptName: TransportName;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private connecting: Promise<ClientError | undefined> | undefined;
  /** Switches (setTransport, upgrades) run one after the other. */
  private switching: Promise<unknown> = Promise.resolve();
  private clientIds = 0;
  private lastTyping = 0;
  private failure: ClientError | undefined;
  private unwatchEnvironment: () => void = () => undefined;
  private readonly tokenProvider: (() => string | Promise<string>) | undefined;
  private tokenTimer: ReturnType<typeof setTimeout> | undefined;
  private presenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The `GET .../presence` under way (readPresence), settled once the one due after it is done too; another is due after it. */
  private presenceReading: Promise<void> | undefined;
  private presenceReadAgain = false;

  /** Checks the options (throws like resolveOptions); connects only on start(). */
  constructor(options: ConnectOptions) {
    const resolved = resolveOptions(options);
    this.wireHook = options.onWire;
    this.settings = resolved.settings;
    this.room = resolved.settings.room;
    this.identity = { member: resolved.settings.member, name: resolved.settings.name };
    this.backoff = resolved.backoff;
    this.upgradeRetryMs = resolved.upgradeRetryMs;
    this.mode = resolved.transport;
    this.tokenProvider = resolved.tokenProvider;
    this.attemptName = this.mode === 'auto' ? TRANSPORTS[0]! : this.mode;
    this.position = new ResumePosition(resolved.after);
    const canSend = (): boolean => this.state === 'connected' && this.current !== undefined;
    this.outbox = new Outbox({ canSend, send: (item) => this.sendQueued(item) });
    this.readMarker = new ReadMarker({ canSend, send: (seq) => this.viaTransport((t) => t.markRead(seq)) });
    const silenceMs = this.settings.silenceTimeoutMs;
    this.watchdog = new SilenceWatchdog({
      silenceMs,
      onSilent: () => this.current && this.onLost(this.current, new ConnectionError('TIMEOUT', `no sign of life for ${silenceMs} ms`)),
      onThrottled: () => this.checkLiveness(),
    });
  }

  get name(): string {
    return this.identity.name;
  }

  get member(): string {
    return this.identity.member;
  }

  get transport(): TransportName {
    return this.current?.name ?? this.attemptName;
  }

  get status(): Status {
    return this.state;
  }

  get cursor(): string | undefined {
    return this.position.cursor;
  }

  on<K extends keyof ClientEvents>(event: K, handler: (value: ClientEvents[K]) => void): () => void {
    return this.emitter.on(event, handler);
  }

  /**
   * Makes the first connection (creating the room first when asked). Rejects with the error of
   * that one attempt (no retries): the client is then closed.
   */
  async start(): Promise<void> {
    this.unwatchEnvironment = this.watchEnvironment();
    try {
      await this.fetchToken();
      if (this.settings.create) {
        await httpRequest(this.http(), { method: 'PUT', path: `/api/rooms/${encodeURIComponent(this.room)}`, timeoutMs: this.settings.openTimeoutMs });
      }
      await this.attemptConnect(false);
    } catch (raw) {
      const err = toClientError(raw);
      const transports = [...this.live];
      this.teardown();
      this.state = 'closed';
      await Promise.all(transports.map((t) => t.close()));
      throw err;
    }
  }

  /** Delivers the events held while connecting (connect() calls it once the caller could subscribe). */
  releaseEvents(): void {
    const held = this.held;
    this.held = undefined;
    for (const deliver of held ?? []) deliver();
  }

  publish(text: string, options?: PublishOptions): Promise<Ack>;
  publish(message: MessagePayload, options?: PublishOptions): Promise<Ack>;
  publish(input: string | MessagePayload, options: PublishOptions = {}): Promise<Ack> {
    const message = payloadOf(input);
    if (message instanceof SwitchboardError) return this.refuse(message);
    if (options.replyTo !== undefined) {
      const problem = seqProblem(options.replyTo, 'replyTo');
      if (problem) return this.refuse(problem);
    }
    return this.enqueue({ type: 'publish', message, ...(options.replyTo !== undefined ? { replyTo: options.replyTo } : {}) }, options);
  }

  edit(seq: number, text: string, options: AmendOptions = {}): Promise<Ack> {
    if (typeof text !== 'string' || text === '') return this.refuse(new SwitchboardError('TEXT_REQUIRED', 'an edit needs a non-empty text'));
    return this.enqueue({ type: 'edit', seq, text }, options);
  }

  delete(seq: number, options: AmendOptions = {}): Promise<Ack> {
    return this.enqueue({ type: 'delete', seq }, options);
  }

  react(seq: number, emoji: string, options: ReactOptions = {}): Promise<Ack> {
    if (typeof emoji !== 'string' || emoji.length > 32 || !EMOJI.test(emoji) || !emoji.isWellFormed()) return this.refuse(new SwitchboardError('BAD_REQUEST', 'emoji: 1-32 characters, no whitespace'));
    if (options.on !== undefined && typeof options.on !== 'boolean') return this.refuse(new SwitchboardError('BAD_REQUEST', 'on: a boolean'));
    return this.enqueue({ type: 'react', seq, emoji, ...(options.on !== undefined ? { on: options.on } : {}) }, options);
  }

  markRead(seq: number): Promise<number> {
    const problem = seqProblem(seq, 'seq', 0);
    if (problem) return this.refuse(problem);
    return this.state === 'closed' ? this.refuse() : this.readMarker.mark(seq);
  }

  readState(): Promise<ReadState> {
    return this.get<ReadState>('read', {});
  }

  search(q: string, options: SearchOptions = {}): Promise<SearchResult> {
    if (typeof q !== 'string' || q.trim() === '' || q.length > 200) return Promise.reject(new SwitchboardError('BAD_REQUEST', 'q: 1-200 characters'));
    return this.get<SearchResult>('search', { q, before: options.before, limit: options.limit });
  }

  history(options: { before?: number; limit?: number } = {}): Promise<HistoryPage> {
    return this.get<HistoryPage>('messages', { before: options.before, limit: options.limit });
  }

  presence(): PresenceMember[] {
    return this.presenceList.list();
  }

  typing(): void {
    const now = Date.now();
    if (now - this.lastTyping < TYPING_EVERY_MS || this.state !== 'connected') return;
    this.lastTyping = now;
    this.current?.typing();
  }

  setTransport(transport: TransportName | 'auto'): Promise<void> {
    if (transport !== 'auto' && !TRANSPORTS.includes(transport)) {
      return Promise.reject(new SwitchboardError('BAD_REQUEST', `transport: one of auto, ${TRANSPORTS.join(', ')}`));
    }
    const run = this.switching.then(() => this.switchTo(transport));
    this.switching = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const transports = [...this.live];
    this.teardown();
    this.outbox.rejectAll(new ConnectionError('CLOSED', 'the client was closed'));
    this.readMarker.rejectAll(new ConnectionError('CLOSED', 'the client was closed'));
    this.setStatus('closed');
    await Promise.all(transports.map((t) => t.close()));
  }

  // ---------------------------------------------------------------------------------------------
  // Connecting, reconnecting, switching

  /**
   * One connection attempt. Explicit mode: that transport. Auto mode: from the best transport
   * known to get through, down the list while they are BLOCKED; an unreachable server or a
   * catalog error stops the descent (falling back would not help). A token function is asked
   * for a fresh token first.
   */
  private async attemptConnect(freshToken = true): Promise<void> {
    if (freshToken) await this.fetchToken();
    const names = this.mode === 'auto' ? this.ladder.candidates() : [this.mode];
    const failures: string[] = [];
    for (const name of names) {
      this.attemptName = name;
      let t: Transport;
      try {
        t = await this.openTransport(name);
      } catch (raw) {
        const err = toClientError(raw);
        if (this.mode !== 'auto' || failureKind(err) !== 'blocked') throw err;
        failures.push(`${name}: ${err.message}`);
        continue;
      }
      if (this.mode === 'auto') this.ladder.settle(name);
      this.promote(t);
      return;
    }
    throw new ConnectionError('BLOCKED', `no transport got through (${failures.join('; ')})`);
  }

  /** A new transport of that kind, opened from the current position. */
  private async openTransport(name: TransportName): Promise<Transport> {
    let t!: Transport;
    const events = this.eventsFor(() => t);
    t = createTransport(name, this.settings, events);
    this.live.add(t);
    try {
      await t.open(this.position.cursor);
    } catch (err) {
      this.live.delete(t);
      throw err;
    }
    if (this.state === 'closed' || !this.live.has(t)) {
      this.live.delete(t);
      void t.close();
      throw new ConnectionError('CLOSED', 'the client was closed while connecting');
    }
    return t;
  }

  /** Makes `t` the transport in use; the one before (a live switch) is closed after it. */
  private promote(t: Transport): void {
    const old = this.current;
    this.current = t;
    this.currentSince = Date.now();
    if (old && old !== t) this.retire(old);
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    this.watchdog.start();
    this.setStatus('connected');
    this.scheduleUpgrade();
    this.outbox.flush();
    this.readMarker.flush();
  }

  private retire(t: Transport): void {
    this.live.delete(t);
    void t.close();
  }

  private onLost(t: Transport, err: ClientError): void {
    if (!this.live.has(t)) return;
    this.retire(t);
    if (t !== this.current) return; // a transport being opened beside the current one: nothing changes
    this.current = undefined;
    this.watchdog.stop();
    clearTimeout(this.upgradeTimer);
    clearTimeout(this.probeTimer);
    const kind = this.failureKind(err);
    if (kind === 'terminal') {
      this.fail(err);
      return;
    }
    if (err instanceof SwitchboardError) this.emit('error', err);
    if (this.mode === 'auto') this.ladder.died(err, Date.now() - this.currentSince);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.retryTimer);
    if (isOffline()) {
      // The 'online' event reconnects (see watchEnvironment).
      this.setStatus('offline');
      return;
    }
    const delay = backoffDelay(this.attempt++, this.backoff);
    this.setStatus('reconnecting', delay);
    this.retryTimer = setTimeout(() => void this.reconnectNow(), delay);
  }

  retryNow(): void {
    if (this.state === 'closed' || this.current || this.connecting) return;
    void this.reconnectNow();
  }

  /** A reconnect attempt now, unless one runs or a transport is up. Resolves with its error, if any. */
  private reconnectNow(): Promise<ClientError | undefined> {
    clearTimeout(this.retryTimer);
    if (this.state === 'closed' || this.current) return Promise.resolve(undefined);
    this.connecting ??= (async () => {
      this.setStatus('reconnecting');
      try {
        await this.attemptConnect();
        return undefined;
      } catch (raw) {
        const err = toClientError(raw);
        if (this.state === 'closed') return err;
        if (this.failureKind(err) === 'terminal') this.fail(err);
        else {
          if (err instanceof SwitchboardError) this.emit('error', err);
          this.scheduleReconnect();
        }
        return err;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  /**
   * setTransport: make before break. The new transport opens from the current position while
   * the old one still delivers; entries of both pass the same seq filter; the old one is closed
   * once the new one is subscribed. Explicit mode: if it cannot open, the old mode and transport
   * stay and the error is thrown.
   */
  private async switchTo(transport: TransportName | 'auto'): Promise<void> {
    if (this.state === 'closed') throw this.failure ?? new ConnectionError('CLOSED', 'the client is closed');
    const previousMode = this.mode;
    const previousLevel = this.ladder.level;
    this.mode = transport;
    clearTimeout(this.upgradeTimer);
    if (transport === 'auto') this.ladder.reset();
    if (this.connecting) await this.connecting;
    if (!this.current) {
      const err = await this.reconnectNow();
      if (err) throw err;
      return;
    }
    const wanted = transport === 'auto' ? TRANSPORTS : [transport];
    for (const name of wanted) {
      if (this.current && name === this.current.name) {
        if (transport === 'auto') this.ladder.settle(name);
        this.scheduleUpgrade();
        return;
      }
      try {
        const t = await this.openTransport(name);
        if (transport === 'auto') this.ladder.settle(name);
        this.promote(t);
        return;
      } catch (raw) {
        const err = toClientError(raw);
        if (transport === 'auto' && failureKind(err) === 'blocked') continue;
        if (transport !== 'auto' && this.mode === transport) {
          this.mode = previousMode;
          this.ladder.level = previousLevel;
          this.scheduleUpgrade();
        }
        throw err;
      }
    }
  }

  /** Auto mode, after a fallback: try the better transports again in `upgradeRetryMs`. */
  private scheduleUpgrade(): void {
    clearTimeout(this.upgradeTimer);
    if (this.mode !== 'auto' || !this.current || this.ladder.above(this.current.name).length === 0) return;
    this.upgradeTimer = setTimeout(() => {
      const run = this.switching.then(() => this.tryUpgrade());
      this.switching = run.catch(() => undefined);
    }, this.upgradeRetryMs);
  }

  private async tryUpgrade(): Promise<void> {
    const current = this.current;
    if (this.mode !== 'auto' || !current || this.state !== 'connected') return;
    for (const name of this.ladder.above(current.name)) {
      let t: Transport;
      try {
        t = await this.openTransport(name);
      } catch {
        continue; // still blocked (or the server is away: the current transport will tell)
      }
      if (this.mode !== 'auto' || this.current !== current) {
        this.retire(t);
        return;
      }
      this.ladder.reset();
      this.ladder.settle(name);
      this.promote(t);
      return;
    }
    this.scheduleUpgrade();
  }

  /** A terminal failure: the client stops and says why. */
  private fail(err: ClientError): void {
    if (this.state === 'closed') return;
    this.failure = err;
    const transports = [...this.live];
    this.teardown();
    for (const t of transports) void t.close();
    if (err instanceof SwitchboardError) this.emit('error', err);
    this.outbox.rejectAll(err);
    this.readMarker.rejectAll(err);
    this.setStatus('closed');
  }

  private teardown(): void {
    clearTimeout(this.tokenTimer);
    clearTimeout(this.presenceTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.upgradeTimer);
    clearTimeout(this.probeTimer);
    this.watchdog.stop();
    this.unwatchEnvironment();
    this.live.clear();
    this.current = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Tokens

  /**
   * With a token function: a fresh token before each connection attempt, and another shortly
   * before it expires, handed to the live connection (WebSocket `refresh`) or used by the next
   * requests. A function that throws fails the attempt with UNAUTHORIZED.
   */
  private async fetchToken(): Promise<void> {
    if (!this.tokenProvider) return;
    let token: string;
    try {
      token = await this.tokenProvider();
    } catch (err) {
      throw new SwitchboardError('UNAUTHORIZED', `the token function failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof token !== 'string' || token === '') throw new SwitchboardError('UNAUTHORIZED', 'the token function gave no token');
    this.settings.token = token;
    clearTimeout(this.tokenTimer);
    const delay = refreshDelay(token);
    if (delay === undefined || this.state === 'closed') return;
    // setTimeout holds at most 2^31-1 ms.
    this.tokenTimer = setTimeout(() => void this.refreshToken(), Math.min(delay, 2_147_483_647));
  }

  private async refreshToken(): Promise<void> {
    try {
      await this.fetchToken();
      await this.current?.refresh?.(this.settings.token!);
    } catch (raw) {
      // The connection goes on with the old token; the server ends it at expiry, and the
      // reconnect asks the function again.
      const err = toClientError(raw);
      if (err instanceof SwitchboardError) this.emit('error', err);
    }
  }

  /** An expired token is no dead end when a function can give a new one. */
  private failureKind(err: ClientError): ReturnType<typeof failureKind> {
    if (this.tokenProvider && err instanceof SwitchboardError && err.code === 'TOKEN_EXPIRED') return 'retry';
    return failureKind(err);
  }

  // ---------------------------------------------------------------------------------------------
  // Liveness

  /**
   * Timers were throttled or the machine slept: the connection may have died unseen. A transport
   * that can be asked (WebSocket ping) must answer within PROBE_GRACE_MS; one that cannot must
   * have shown life within its own quiet period.
   */
  private checkLiveness(): void {
    const t = this.current;
    if (!t) {
      if (this.state === 'reconnecting' || this.state === 'offline') void this.reconnectNow();
      return;
    }
    const grace = Math.min(PROBE_GRACE_MS, this.settings.silenceTimeoutMs);
    if (t.probe()) {
      const sent = Date.now();
      clearTimeout(this.probeTimer);
      this.probeTimer = setTimeout(() => {
        if (this.current === t && this.watchdog.lastActivity < sent) this.onLost(t, new ConnectionError('TIMEOUT', `no answer to a liveness probe within ${grace} ms`));
      }, grace);
    } else if (this.watchdog.silentForMs > t.quietMs + grace) {
      this.onLost(t, new ConnectionError('TIMEOUT', `silent for ${this.watchdog.silentForMs} ms after timers were suspended`));
    }
  }

  /** Browsers: reconnect when the network comes back, check the connection when the tab is shown again. */
  private watchEnvironment(): () => void {
    return watchBrowserEnvironment({
      online: () => {
        if (this.current) this.checkLiveness();
        else void this.reconnectNow();
      },
      offline: () => {
        if (!this.current && this.state === 'reconnecting') {
          clearTimeout(this.retryTimer);
          this.setStatus('offline');
        }
      },
      visible: () => this.checkLiveness(),
      pageHidden: () => this.current?.pageHidden?.(),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Transport events

  private eventsFor(transport: () => Transport): TransportEvents {
    const isLive = (): boolean => this.live.has(transport());
    return {
      subscribed: (info) => isLive() && this.onSubscribed(info),
      entry: (entry, epoch) => isLive() && this.onEntry(entry, epoch),
      typing: (notice) => {
        if (isLive() && notice.from.member !== this.member) this.emit('typing', notice);
      },
      receipt: (receipt) => isLive() && this.onReceipt(receipt),
      presence: (notice) => {
        if (!isLive()) return;
        if (this.presenceList.take(notice)) this.emit('presence', this.presenceList.list());
        if (this.presenceList.doubtful) this.checkPresenceSoon();
      },
      presenceStale: () => (isLive() ? this.readPresence() : undefined),
      activity: () => {
        if (transport() === this.current) this.watchdog.activity();
      },
      error: (err) => isLive() && this.emit('error', err),
      wire: (event) => this.onWire(transport().name, event),
      lost: (err) => this.onLost(transport(), err),
    };
  }

  private onSubscribed(info: SubscribedInfo): void {
    // With a token the server names the member: own messages, typing and receipts are told by it.
    if (info.identity) this.identity = info.identity;
    this.position.start(info.epoch, info.seq, info.reset);
    if (info.reset) this.emit('reset', { reason: info.reset });
    if (info.presence) {
      this.presenceList.replace(info.presence, info.presenceTruncated === true);
      this.emit('presence', this.presenceList.list());
    }
  }

  /**
   * The presence list may not be the room's (see PresenceList.doubtful): unless a notice settles
   * it within PRESENCE_CHECK_MS (two nodes' changes may cross), the whole list is read.
   */
  private checkPresenceSoon(): void {
    if (this.presenceTimer !== undefined) return;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = undefined;
      if (this.state === 'closed' || !this.presenceList.doubtful) return;
      void this.readPresence();
    }, PRESENCE_CHECK_MS);
  }

  /**
   * Reads the member list again (`GET .../presence`): a doubtful list, or a poller's whose room
   * changed (its transport gets no notices). One read at a time; a change while one runs reads
   * again after it, so the list is never older than the last change told. Settles once the list
   * is as new as this call asked (the read due after the one under way included), or a read failed.
   */
  private readPresence(): Promise<void> {
    if (this.presenceReading) {
      this.presenceReadAgain = true;
      return this.presenceReading;
    }
    const next = (): Promise<void> | undefined => {
      this.presenceReading = undefined;
      const again = this.presenceReadAgain && this.state !== 'closed';
      this.presenceReadAgain = false;
      return again ? this.readPresence() : undefined;
    };
    // As much as a subscriber's snapshot holds; a room of more is said to be a part (`truncated`).
    return (this.presenceReading = this.get<PresencePage>('presence', { limit: PRESENCE_READ_LIMIT })
      .then(
        ({ members, truncated }) => {
          if (this.state === 'closed') return;
          this.presenceList.replace(members, truncated === true);
          this.emit('presence', this.presenceList.list());
        },
        () => undefined, // the next change tells again
      )
      .then(next, next));
  }

  private onEntry(entry: Entry, epoch: string): void {
    const verdict = this.position.accept(epoch, entry.seq);
    if (verdict === 'seen') return;
    if (verdict === 'new-epoch') this.emit('reset', { reason: 'epoch' });
    this.emit('entry', entry);
    switch (entry.type) {
      case 'message':
        this.emit('message', entry);
        break;
      case 'edit':
      case 'delete':
      case 'reaction':
        this.emit(entry.type, entry);
        break;
      default:
        if (this.presenceList.apply(entry)) this.emit('presence', this.presenceList.list());
    }
  }

  private onReceipt(receipt: ReadReceipt): void {
    if (receipt.room !== this.room) return;
    if (receipt.member === this.member) this.readMarker.saw(receipt.seq);
    this.emit('receipt', receipt);
  }

  private onWire(transport: TransportName, event: WireInit): void {
    const hook = this.wireHook;
    if (!hook && !this.emitter.has('wire') && !this.held) return;
    const wire: WireEvent = { at: Date.now(), transport, ...event };
    if (hook) {
      try {
        hook(wire);
      } catch {
        // An inspector's failure is not the connection's.
      }
    }
    if (this.emitter.has('wire') || this.held) this.emit('wire', wire);
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /**
   * The outbox's way out: the current transport. Not named `send`: a TypeScript-private method
   * is still there for plain JavaScript, and `client.send('hi')` (Socket.IO's habit) reached it
   * and failed with a TypeError inside; now it is "client.send is not a function".
   */
  private sendQueued(item: PendingCommand): Promise<Ack> {
    return this.viaTransport((t) => t.send(item.command, item.clientId));
  }

  /** Runs a request on the current transport; a retryable failure replaces that transport. */
  private async viaTransport<T>(request: (t: Transport) => Promise<T>): Promise<T> {
    const t = this.current;
    if (!t) throw new ConnectionError('CONNECTION_LOST', 'no transport');
    try {
      return await request(t);
    } catch (raw) {
      let err = toClientError(raw);
      // The transport was closed under the request (a switch): send it again on the next one.
      if (err instanceof ConnectionError && err.code === 'CLOSED' && this.state !== 'closed') {
        err = new ConnectionError('CONNECTION_LOST', 'the transport was replaced before the answer came');
      }
      if (isRetryablePublishFailure(err) && t === this.current) this.onLost(t, err);
      throw err;
    }
  }

  /** Queues a publish or an amendment (see Outbox), with its clientId. */
  private enqueue(command: Command, options: AmendOptions): Promise<Ack> {
    if (this.state === 'closed') return this.refuse();
    if (command.type !== 'publish') {
      const problem = seqProblem(command.seq, 'seq');
      if (problem) return this.refuse(problem);
    }
    const clientId = options.clientId ?? this.nextClientId();
    if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) return this.refuse(new SwitchboardError('BAD_REQUEST', 'clientId: 1-64 of A-Z a-z 0-9 _ - : .'));
    return this.outbox.add(command, clientId);
  }

  /** A rejection: the error given, or why the client is closed. */
  private refuse<T>(err?: ClientError): Promise<T> {
    return Promise.reject(err ?? this.failure ?? new ConnectionError('CLOSED', 'the client is closed'));
  }

  /** `GET /api/rooms/:room/<route>`, naming this member (the server reads it where no token does). */
  private get<T>(route: string, query: Record<string, string | number | undefined>): Promise<T> {
    return httpRequest<T>(this.http(), {
      method: 'GET',
      path: `/api/rooms/${encodeURIComponent(this.room)}/${route}`,
      query: route === 'messages' ? query : { ...query, name: this.name, member: this.member },
      timeoutMs: this.settings.publishTimeoutMs,
    });
  }

  private nextClientId(): string {
    return `${this.member.slice(0, 40)}-${(++this.clientIds).toString(36)}-${randomId(6)}`;
  }

  private http(): HttpTarget {
    return httpTarget(this.settings, (event) => this.onWire(this.transport, event));
  }

  /** Emits `status` when the status, or the transport in use, changed (a live switch is news too). */
  private setStatus(status: Status, retryInMs?: number): void {
    if (this.state === 'closed') return;
    const transport = this.transport;
    if (status === this.state && transport === this.reportedTransport && retryInMs === undefined) return;
    this.state = status;
    this.reportedTransport = transport;
    this.emit('status', { status, transport, ...(retryInMs !== undefined ? { retryInMs } : {}) });
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    if (this.held) this.held.push(() => this.emitter.emit(event, value));
    else this.emitter.emit(event, value);
  }
}
