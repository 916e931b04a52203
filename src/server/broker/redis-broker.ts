import { SwitchboardError } from '../../protocol/errors.js';
import { closeRedisClient, createRedisClient, isCluster, waitUntilReady, type RedisClient, type RedisConnectionOptions } from '../redis-connection.js';
import { TICKET_MAX_AGE_MS } from '../session/presence-ticket.js';
import { roomOf, type Broker, type BrokerMessage, type DisconnectOrder } from './broker.js';
import { keepDisconnectIn, readDisconnectsIn } from './redis-disconnects.js';

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions extends RedisConnectionOptions {
  /** `redis://host:port/db`, `redis-cluster://host:port,host:port` for a Redis Cluster, or `redis-sentinel://host:port,host:port/master` through Redis Sentinel. */
  url: string;
  /** Prefix of the channels (`${prefix}bus`, `${prefix}bus:{room}`): nodes with the same prefix hear each other. */
  prefix: string;
}

/**
 * Most entries kept for publishing again while the publishing connection is down; beyond it the
 * oldest are dropped (receivers fill such gaps from the store when a later entry comes).
 */
const MAX_BACKLOG = 10_000;

/**
 * Fan-out between nodes over Redis 7 sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`), each BrokerMessage
 * as JSON. Each room has its own channel, `${prefix}bus:{room}`, which a node listens to only
 * while it watches the room (see Broker.watch): a node hears the rooms it has local subscribers
 * for and nothing else. Its hash tag `{room}` puts the channel in the room's slot, so in a Redis
 * Cluster a room's traffic stays on the shard that holds its keys. Administrators' disconnect
 * orders go on `${prefix}bus`, which every node listens to from `init` on, and are kept in the
 * sorted set `${prefix}disconnects` (by when, the latest MAX_DISCONNECTS_REMEMBERED of the last
 * TICKET_MAX_AGE_MS) for the nodes that start later (recentDisconnects). A node hears its own
 * messages the same way as the others'.
 *
 * At most once on the wire: a message published while a node's subscription is being
 * re-established after a reconnection never reaches that node. So that no entry waits for a
 * later one to reveal the gap, the broker calls `onReconnect` once it listens again to every
 * channel it watches (the hub then reads the store), and keeps the entries it could not hand to
 * Redis to publish them once its own connection is back.
 *
 * Two connections (two cluster clients in a cluster, whose subscriber keeps one connection per
 * master), because a subscribed Redis connection can do nothing but listen.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly prefix: string;
  private readonly globalChannel: string;
  /** The sorted set of the recent disconnect orders: `[member, room]` as JSON, scored by when. */
  private readonly disconnectsKey: string;
  private readonly connectTimeoutMs: number;
  private handler: (message: BrokerMessage) => void = () => {};
  private reconnectHandler: () => void = () => {};
  /** True from init to close: reconnections are handled only then. */
  private running = false;
  /** True while the subscriptions are known to be active. */
  private subscribed = false;
  /** Entries whose SPUBLISH failed, oldest first. */
  private backlog: BrokerMessage[] = [];
  /** Watched rooms and how many `watch` calls each has that no `unwatch` answered yet. */
  private readonly interest = new Map<string, number>();
  /** SSUBSCRIBE in flight per room: a second `watch` meanwhile waits for the same one. */
  private readonly subscribing = new Map<string, Promise<void>>();

  constructor(options: RedisBrokerOptions) {
    this.prefix = options.prefix;
    this.globalChannel = `${options.prefix}bus`;
    this.disconnectsKey = `${options.prefix}disconnects`;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.publisher = createRedisClient(options.url, { connectionName: 'switchboard-broker-pub', ...options });
    this.subscriber = createRedisClient(options.url, { connectionName: 'switchboard-broker-sub', ...options, shardedSubscribers: true });
    const lost = (): void => void (this.subscribed = false);
    const back = (): void => {
      if (this.running) void this.resubscribed();
    };
    this.subscriber.on('close', lost);
    this.subscriber.on('ready', back);
    if (isCluster(this.subscriber)) {
      // A master's subscriber connection that dropped is replaced and resubscribed by ioredis,
      // which then says 'subscribersReady'.
      this.subscriber.on('-subscriber', lost);
      this.subscriber.on('subscribersReady', back);
    }
    this.publisher.on('ready', () => {
      if (this.running) void this.flushBacklog();
    });
    this.subscriber.on('smessage', (channel: string, payload: string) => this.onChannelMessage(channel, payload));
  }

  /**
   * Connects both clients and listens to the disconnect orders; resolves once that subscription
   * is active. Rejects with STORE_UNAVAILABLE on timeout; a failed init leaves nothing running.
   */
  async init(): Promise<void> {
    try {
      await Promise.all([waitUntilReady(this.publisher, this.connectTimeoutMs), waitUntilReady(this.subscriber, this.connectTimeoutMs)]);
      await this.subscriber.ssubscribe(this.globalChannel);
      this.subscribed = true;
      this.running = true;
    } catch (err) {
      await this.close();
      throw err instanceof SwitchboardError ? err : new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Resolves once this node listens to the room's channel. Rejects with STORE_UNAVAILABLE when
   * Redis cannot be reached, and then this call counts for nothing (no `unwatch` is due).
   */
  async watch(room: string): Promise<void> {
    this.interest.set(room, (this.interest.get(room) ?? 0) + 1);
    let pending = this.subscribing.get(room);
    if (!pending && this.interest.get(room) === 1) {
      const started: Promise<void> = this.subscribeRoom(room).finally(() => {
        if (this.subscribing.get(room) === started) this.subscribing.delete(room);
      });
      pending = started;
      this.subscribing.set(room, pending);
    }
    try {
      await pending;
    } catch (err) {
      this.unwatch(room);
      throw new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
  }

  /** Stops listening to the room once every `watch` of it was answered by an `unwatch`. */
  unwatch(room: string): void {
    const n = this.interest.get(room);
    if (n === undefined) return;
    if (n > 1) {
      this.interest.set(room, n - 1);
      return;
    }
    this.interest.delete(room);
    // A later watch must SSUBSCRIBE again after this SUNSUBSCRIBE, not wait for an older SSUBSCRIBE.
    this.subscribing.delete(room);
    // Messages that still come are dropped in onChannelMessage; a connection lost meanwhile
    // forgets the subscription anyway.
    this.subscriber.sunsubscribe(this.roomChannel(room)).catch(() => {});
  }

  /**
   * Resolves whether or not Redis took the message, and never rejects. An entry Redis did not
   * take is published again once the connection is back (receivers drop what they already
   * have); a typing, presence or receipt notice is dropped.
   */
  async publish(message: BrokerMessage): Promise<void> {
    const room = roomOf(message);
    try {
      // Kept before it is sent: a node that starts once it was sent finds it (sent again with
      // the message when Redis did not take it; adding it twice changes nothing).
      if (message.kind === 'disconnect') await keepDisconnectIn(this.publisher, this.disconnectsKey, { member: message.member, ...(message.room !== undefined ? { room: message.room } : {}), at: message.at ?? Date.now() });
      await this.publisher.spublish(room === undefined ? this.globalChannel : this.roomChannel(room), JSON.stringify(message));
    } catch {
      // Ephemeral notices are dropped; entries and administrators' orders are sent again later.
      if (message.kind === 'typing' || message.kind === 'presence' || message.kind === 'receipt') return;
      this.backlog.push(message);
      if (this.backlog.length > MAX_BACKLOG) this.backlog.shift();
    }
  }

  /** The disconnect orders kept in Redis (see the class comment), oldest first. */
  recentDisconnects(): Promise<readonly DisconnectOrder[]> {
    return readDisconnectsIn(this.publisher, this.disconnectsKey, Date.now() - TICKET_MAX_AGE_MS);
  }

  /** The handler runs inside ioredis's reply parsing: it must not throw. */
  onMessage(handler: (message: BrokerMessage) => void): void {
    this.handler = handler;
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandler = handler;
  }

  /** True when Redis answers and the subscriptions are active. */
  async ping(): Promise<boolean> {
    try {
      return this.subscribed && this.subscriber.status === 'ready' && (await this.publisher.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.running = false;
    await Promise.all([closeRedisClient(this.subscriber), closeRedisClient(this.publisher)]);
  }

  /** Rooms this node listens to now (for tests and metrics). */
  get watchedRooms(): number {
    return this.interest.size;
  }

  private roomChannel(room: string): string {
    // Room names hold no braces (ROOM_NAME_PATTERN), so `{room}` is the whole hash tag.
    return `${this.prefix}bus:{${room}}`;
  }

  private async subscribeRoom(room: string): Promise<void> {
    await this.subscriber.ssubscribe(this.roomChannel(room));
  }

  private onChannelMessage(channel: string, payload: string): void {
    let message: BrokerMessage;
    try {
      message = JSON.parse(payload) as BrokerMessage;
    } catch {
      return; // Not ours (someone else published on the channel): ignore.
    }
    const room = roomOf(message);
    if (room === undefined ? channel !== this.globalChannel : channel !== this.roomChannel(room) || !this.interest.has(room)) return;
    this.handler(message);
  }

  /**
   * After a reconnection ioredis subscribes again by itself, without telling when that is done:
   * SSUBSCRIBE once more to every channel (a no-op for Redis) and wait for it, so `onReconnect`
   * runs only once messages flow again; what was published before is then in the store.
   */
  private async resubscribed(): Promise<void> {
    try {
      await Promise.all([this.globalChannel, ...[...this.interest.keys()].map((room) => this.roomChannel(room))].map((c) => this.subscriber.ssubscribe(c)));
    } catch {
      return; // Lost again: the next 'ready' tries again.
    }
    this.subscribed = true;
    this.reconnectHandler();
  }

  private async flushBacklog(): Promise<void> {
    const pending = this.backlog;
    this.backlog = [];
    // In order; one that fails again goes back to the backlog for the next reconnection.
    for (const message of pending) await this.publish(message);
  }
}
