import type { Logger } from './logger.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisClient, type RedisConnectionOptions } from './redis-connection.js';
import type { Budget, Held, LimitPeers, Spend } from './session/limits.js';

/** How long spends are gathered before they are published: one message per node per FLUSH_MS at most. */
export const FLUSH_MS = 10;
/** Spends kept per flush at most: past it a key's units are still added, new keys are not (a flood of fresh keys). */
const MAX_KEYS_PER_FLUSH = 10_000;

export interface RedisLimitPeersOptions extends RedisConnectionOptions {
  url: string;
  /** The deployment's key prefix: the channel is `<prefix>limits`. */
  prefix: string;
  /** Who sends (distinct per server, two in one process included): its own messages, which Redis sends back to it too, are skipped. */
  sender: string;
  logger: Logger;
}

/**
 * The rate budgets of every node of one Redis deployment, shared over sharded pub/sub (one
 * channel, `<prefix>limits`): what this node's clients spend is gathered for FLUSH_MS, summed per
 * budget and key, and published (`SPUBLISH`, fire and forget); every other node charges it to its
 * own buckets (Limits.absorb). So a client whose requests a load balancer spreads over n nodes
 * gets one budget for the deployment, not n: each node refuses it once all of them together spent
 * it, some ten milliseconds and a Redis hop late. While Redis cannot be reached, spends are not
 * told (each node's budgets hold alone meanwhile), never queued. The caps of connections stay each
 * node's (a count would need refreshing, and forgetting when a node dies unannounced).
 */
export class RedisLimitPeers implements LimitPeers {
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly channel: string;
  private pending = new Map<Budget, Map<string, number>>();
  private keys = 0;
  /** Spends (calls of `spent`) in `pending`. */
  private spends = 0;
  private timer: NodeJS.Timeout | undefined;
  private handler: (spends: readonly Spend[]) => void = () => {};
  private running = false;
  /** Spends not told (see LimitPeers.dropped): while not running or Redis not ready, and new keys past MAX_KEYS_PER_FLUSH. */
  dropped = 0;

  constructor(private readonly o: RedisLimitPeersOptions) {
    this.channel = `${o.prefix}limits`;
    this.publisher = createRedisClient(o.url, { ...o, connectionName: 'switchboard-limits-pub' });
    this.subscriber = createRedisClient(o.url, { ...o, connectionName: 'switchboard-limits-sub', shardedSubscribers: true });
    this.subscriber.on('smessage', (channel: string, payload: string) => {
      if (channel === this.channel) this.receive(payload);
    });
    // A subscriber that reconnected listens again (what was published meanwhile is not heard: those budgets held per node).
    this.subscriber.on('ready', () => {
      if (this.running) this.subscriber.ssubscribe(this.channel).catch(() => {});
    });
  }

  /** Connects both clients and listens; rejects (leaving nothing open) when Redis does not answer in time. */
  async init(): Promise<void> {
    try {
      await Promise.all([waitUntilReady(this.publisher, this.o.connectTimeoutMs ?? 5000), waitUntilReady(this.subscriber, this.o.connectTimeoutMs ?? 5000)]);
      await this.subscriber.ssubscribe(this.channel);
      this.running = true;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([closeRedisClient(this.publisher), closeRedisClient(this.subscriber)]);
  }

  spent(budget: Budget, key: string, units: number): void {
    if (!this.running) {
      this.dropped++;
      return;
    }
    let byKey = this.pending.get(budget);
    if (byKey === undefined) this.pending.set(budget, (byKey = new Map()));
    const had = byKey.get(key);
    if (had === undefined) {
      if (this.keys >= MAX_KEYS_PER_FLUSH) {
        this.dropped++;
        return;
      }
      this.keys++;
    }
    byKey.set(key, (had ?? 0) + units);
    this.spends++;
    this.timer ??= setTimeout(this.flush, FLUSH_MS).unref();
  }

  onSpent(handler: (spends: readonly Spend[]) => void): void {
    this.handler = handler;
  }

  /** Caps are each node's: nothing told. */
  holds(): void {}

  onHolds(_handler: (peer: string, counts: readonly Held[]) => void, _gone: (peer: string) => void): void {}

  private readonly flush = (): void => {
    this.timer = undefined;
    const spends: Spend[] = [];
    for (const [budget, byKey] of this.pending) for (const [key, units] of byKey) spends.push([budget, key, units]);
    const told = this.spends;
    this.pending = new Map();
    this.keys = 0;
    this.spends = 0;
    if (spends.length === 0) return;
    if (this.publisher.status !== 'ready') {
      this.dropped += told;
      return;
    }
    this.publisher.spublish(this.channel, JSON.stringify({ sender: this.o.sender, spends })).catch((err: unknown) => {
      this.dropped += told;
      this.o.logger.debug({ err }, 'budgets spent not told to the other nodes');
    });
  };

  /** Another node's spends (our own come back too: skipped). Anything else on the channel is ignored. */
  private receive(payload: string): void {
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { sender, spends } = message as { sender?: unknown; spends?: unknown };
    if (sender === this.o.sender || !Array.isArray(spends)) return;
    this.handler(spends.filter((s): s is Spend => Array.isArray(s) && s.length === 3 && typeof s[0] === 'string' && typeof s[1] === 'string' && typeof s[2] === 'number'));
  }
}
