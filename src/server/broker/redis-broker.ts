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
 * Fan-out between nodes over Redis pub/sub: one channel, `${prefix}bus`, carrying each
 * BrokerMessage as JSON. Every node subscribes to it, the publisher included, so a node hears its
 * own messages the same way as the others'.
 *
 * At most once: a message published while Redis is down, or while a node's subscription is being
 * re-established after a reconnection, is lost for good. That is allowed by the Broker contract:
 * entries are in the store, and the hub reads back what it missed.
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

  constructor(options: RedisBrokerOptions) {
    this.channel = `${options.prefix}bus`;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.publisher = createRedisClient(options.url, options);
    this.subscriber = createRedisClient(options.url, options);
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
    } catch (err) {
      await this.close();
      throw err instanceof SwitchboardError ? err : new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
  }

  /** Best effort: resolves whether or not Redis took the message, and never rejects. */
  async publish(message: BrokerMessage): Promise<void> {
    try {
      await this.publisher.publish(this.channel, JSON.stringify(message));
    } catch {
      // Redis is down: the entry is in the store and receivers catch up from there.
    }
  }

  /** The handler runs inside ioredis's reply parsing: it must not throw. */
  onMessage(handler: (message: BrokerMessage) => void): void {
    this.handler = handler;
  }

  /** True when Redis answers and the subscription connection is up. */
  async ping(): Promise<boolean> {
    try {
      return this.subscriber.status === 'ready' && (await this.publisher.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([closeRedisClient(this.subscriber), closeRedisClient(this.publisher)]);
  }
}
