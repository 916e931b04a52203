import type { Redis } from 'ioredis';
import { SwitchboardError } from '../../protocol/errors.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisConnectionOptions } from '../redis-connection.js';
import type { Broker, BrokerMessage } from './broker.js';

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions extends RedisConnectionOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Prefix of the channel (`${prefix}bus`): nodes with the same prefix hear each other. */
  prefix: string;
}

/**
 * Most entries kept for publishing again while the publishing connection is down; beyond it the
 * oldest are dropped (receivers fill such gaps from the store when a later entry comes).
 */
const MAX_BACKLOG = 10_000;

/**
 * Fan-out between nodes over Redis pub/sub: one channel, `${prefix}bus`, carrying each
 * BrokerMessage as JSON. Every node subscribes to it, the publisher included, so a node hears its
 * own messages the same way as the others'.
 *
 * At most once on the wire: a message published while a node's subscription is being
 * re-established after a reconnection never reaches that node. So that no entry waits for a
 * later one to reveal the gap, the broker calls `onReconnect` once it listens again (the hub then
 * reads the store), and keeps the entries it could not hand to Redis to publish them once its
 * own connection is back.
 *
 * Two connections, because a subscribed Redis connection can do nothing but listen.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly connectTimeoutMs: number;
  private handler: (message: BrokerMessage) => void = () => {};
  private reconnectHandler: () => void = () => {};
  /** True from init to close: reconnections are handled only then. */
  private running = false;
  /** True while the subscription is known to be active. */
  private subscribed = false;
  /** Entries whose PUBLISH failed, oldest first. */
  private backlog: BrokerMessage[] = [];

  constructor(options: RedisBrokerOptions) {
    this.channel = `${options.prefix}bus`;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.publisher = createRedisClient(options.url, { connectionName: 'switchboard-broker-pub', ...options });
    this.subscriber = createRedisClient(options.url, { connectionName: 'switchboard-broker-sub', ...options });
    this.subscriber.on('close', () => (this.subscribed = false));
    this.subscriber.on('ready', () => {
      if (this.running) void this.resubscribed();
    });
    this.publisher.on('ready', () => {
      if (this.running) void this.flushBacklog();
    });
    this.subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      let message: BrokerMessage;
      try {
        message = JSON.parse(payload) as BrokerMessage;
      } catch {
        return; // Not ours (someone else published on the channel): ignore.
      }
      this.handler(message);
    });
  }

  /**
   * Connects both clients and subscribes; resolves once the subscription is active, so a message
   * published after `init` resolves reaches this node. Rejects with STORE_UNAVAILABLE on timeout.
   * ioredis re-subscribes by itself after a reconnection. A failed init leaves nothing running.
   */
  async init(): Promise<void> {
    try {
      await Promise.all([waitUntilReady(this.publisher, this.connectTimeoutMs), waitUntilReady(this.subscriber, this.connectTimeoutMs)]);
      await this.subscriber.subscribe(this.channel);
      this.subscribed = true;
      this.running = true;
    } catch (err) {
      await this.close();
      throw err instanceof SwitchboardError ? err : new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Resolves whether or not Redis took the message, and never rejects. An entry Redis did not
   * take is published again once the connection is back (receivers drop what they already
   * have); a typing notice is dropped.
   */
  async publish(message: BrokerMessage): Promise<void> {
    try {
      await this.publisher.publish(this.channel, JSON.stringify(message));
    } catch {
      // Ephemeral notices are dropped; entries and administrators' orders are sent again later.
      if (message.kind === 'typing' || message.kind === 'presence') return;
      this.backlog.push(message);
      if (this.backlog.length > MAX_BACKLOG) this.backlog.shift();
    }
  }

  /** The handler runs inside ioredis's reply parsing: it must not throw. */
  onMessage(handler: (message: BrokerMessage) => void): void {
    this.handler = handler;
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandler = handler;
  }

  /** True when Redis answers and the subscription is active. */
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

  /**
   * After a reconnection ioredis subscribes again by itself, without telling when that is done:
   * SUBSCRIBE once more (a no-op for Redis) and wait for it, so `onReconnect` runs only once
   * messages flow again; what was published before is then in the store.
   */
  private async resubscribed(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
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
