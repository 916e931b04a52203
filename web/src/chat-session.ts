import { connect } from 'switchboard-client';
import { serverBase } from './api.js';
import type { Ack, Client, ClientEvents, HistoryPage, ReadState, SearchResult, TransportName } from 'switchboard-client';
import { claimsForSdk } from './auth.js';

/** What a session passes on from its client (whichever client is current). */
export type SessionHandlers = { [K in keyof ClientEvents]?: (value: ClientEvents[K]) => void };

export interface SessionOptions {
  room: string;
  name: string;
  member: string;
  transport: TransportName;
  pollIntervalMs: number;
  /** Create the room if it does not exist. */
  create?: boolean;
  /** The token to connect with, read at each (re)connection (it may have been renewed meanwhile). */
  token?: () => string | undefined;
}

interface Outgoing {
  text: string;
  /** The seq of the message answered, for a reply. */
  replyTo?: number;
  resolve(ack: Ack): void;
  reject(err: unknown): void;
}

/**
 * One room's conversation through the SDK. It outlives its Client: options the SDK cannot change
 * live (the polling interval, the display name) are applied by connecting a new client that
 * resumes from the old one's cursor, and publishes still in flight are sent again on it with the
 * same client message id, so the server stores each once.
 */
export class ChatSession {
  private client: Client | undefined;
  private unsubscribe: Array<() => void> = [];
  private readonly outbox = new Map<string, Outgoing>();
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private options: SessionOptions,
    private readonly handlers: SessionHandlers,
  ) {}

  get current(): Client | undefined {
    return this.client;
  }

  get room(): string {
    return this.options.room;
  }

  /** Publishes not yet acknowledged (queued while not connected, or in flight). */
  get pending(): number {
    return this.outbox.size;
  }

  /**
   * Leaves once every pending publish was acknowledged or refused (or after `timeoutMs`), so that
   * leaving a room does not drop what was written there; resolves with how many were never sent.
   */
  async closeWhenSent(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.outbox.size > 0 && this.client !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const unsent = this.outbox.size;
    await this.close();
    return unsent;
  }

  /** Connects; rejects with the SDK's error (ROOM_NOT_FOUND, UNREACHABLE, ...). */
  async start(after?: string): Promise<Client> {
    const token = this.options.token?.();
    const client = await connect({
      url: serverBase(),
      room: this.options.room,
      ...claimsForSdk(this.options.name, this.options.member),
      ...(token !== undefined ? { token } : {}),
      transport: this.options.transport,
      pollIntervalMs: this.options.pollIntervalMs,
      ...(this.options.create ? { create: true } : {}),
      ...(after ? { after } : {}),
      // Every wire event from the first request, a refused first connection (401, 404) included.
      ...(this.handlers.wire ? { onWire: this.handlers.wire } : {}),
    });
    if (this.closed) {
      await client.close();
      throw new Error('closed');
    }
    this.attach(client);
    for (const [clientId, item] of this.outbox) this.send(client, clientId, item);
    return client;
  }

  /** Publishes (a reply when `replyTo` is given); survives client swaps (see the class comment). */
  publish(text: string, clientId: string, replyTo?: number): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      const item: Outgoing = { text, resolve, reject, ...(replyTo !== undefined ? { replyTo } : {}) };
      this.outbox.set(clientId, item);
      if (this.client) this.send(this.client, clientId, item);
    });
  }

  history(before?: number, limit = 50): Promise<HistoryPage> {
    if (!this.client) return Promise.reject(new Error('not connected'));
    return this.client.history({ ...(before !== undefined ? { before } : {}), limit });
  }

  typing(): void {
    this.client?.typing();
  }

  /** Changes the text of message `seq` (the author's, or as a room admin); resolves with the ack of the edit entry. */
  async edit(seq: number, text: string): Promise<Ack> {
    return this.connected().edit(seq, text);
  }

  /** Deletes message `seq` (its text is erased on the server); resolves with the ack of the delete entry. */
  async delete(seq: number): Promise<Ack> {
    return this.connected().delete(seq);
  }

  /** Adds (`on` true) or takes back (`on` false) this member's reaction `emoji` on message `seq`. */
  async react(seq: number, emoji: string, on: boolean): Promise<Ack> {
    return this.connected().react(seq, emoji, { on });
  }

  /** Moves this member's read position forward to `seq` (calls coalesce in the SDK); resolves with the stored position. */
  async markRead(seq: number): Promise<number> {
    return this.connected().markRead(seq);
  }

  /** The room's read positions and this member's unread counts. */
  async readState(): Promise<ReadState> {
    return this.connected().readState();
  }

  /** Messages matching `q` (each word a prefix), newest first, older than `before` when given. */
  async search(q: string, before?: number): Promise<SearchResult> {
    return this.connected().search(q, { ...(before !== undefined ? { before } : {}), limit: 20 });
  }

  /** Switches transport live (SDK resume: nothing lost or doubled). Calls run one after another. */
  setTransport(transport: TransportName): Promise<void> {
    this.options = { ...this.options, transport };
    return this.enqueue(async () => {
      if (this.client && this.client.transport !== transport) await this.client.setTransport(transport);
    });
  }

  /** New polling interval: reconnects (resuming) when short polling is in use. */
  setPollInterval(pollIntervalMs: number): Promise<void> {
    const changed = this.options.pollIntervalMs !== pollIntervalMs;
    this.options = { ...this.options, pollIntervalMs };
    return this.enqueue(async () => {
      if (changed && this.client?.transport === 'polling') await this.reconnect();
    });
  }

  /** New display name: reconnects (resuming) so the room sees it. */
  setName(name: string): Promise<void> {
    this.options = { ...this.options, name };
    return this.enqueue(() => this.reconnect());
  }

  /** A new token (renewed, or given after a refusal): reconnects (resuming) with it. */
  renewToken(): Promise<void> {
    return this.enqueue(() => this.reconnect());
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.detach();
    for (const item of this.outbox.values()) item.reject(new Error('The conversation was closed'));
    this.outbox.clear();
    await client?.close();
  }

  /** The current client, or a rejection the caller shows (not connected yet, or closed). */
  private connected(): Client {
    if (!this.client) throw new Error('not connected');
    return this.client;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async reconnect(): Promise<void> {
    const old = this.detach();
    const after = old?.cursor;
    // The old client rejects what it still holds; those publishes go out again on the new one.
    await old?.close();
    if (!this.closed) await this.start(after);
  }

  private send(client: Client, clientId: string, item: Outgoing): void {
    client.publish(item.text, { clientId, ...(item.replyTo !== undefined ? { replyTo: item.replyTo } : {}) }).then(
      (ack) => {
        if (this.outbox.get(clientId) !== item) return;
        this.outbox.delete(clientId);
        item.resolve(ack);
      },
      (err: unknown) => {
        // A client retired by a swap: the new client sends it again.
        if (client !== this.client || this.outbox.get(clientId) !== item) return;
        this.outbox.delete(clientId);
        item.reject(err);
      },
    );
  }

  private attach(client: Client): void {
    this.client = client;
    for (const event of Object.keys(this.handlers) as Array<keyof ClientEvents>) {
      if (event === 'wire') continue; // given as onWire at connect
      const handler = this.handlers[event] as ((value: unknown) => void) | undefined;
      if (handler) this.unsubscribe.push(client.on(event, handler as (value: ClientEvents[typeof event]) => void));
    }
  }

  private detach(): Client | undefined {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    const client = this.client;
    this.client = undefined;
    return client;
  }
}
