import type { Logger } from './logger.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisClient, type RedisConnectionOptions } from './redis-connection.js';
import type { Budget, Held, LimitPeers, Spend } from './session/limits.js';

/** How long spends and counts are gathered before they are published: one message per node per FLUSH_MS at most. */
export const FLUSH_MS = 10;
/** Spends kept per flush at most: past it a key's units are still added, new keys are not (a flood of fresh keys). */
const MAX_KEYS_PER_FLUSH = 10_000;
/** Counts of connections per message at most: a node's whole set, told again at each refresh, goes in as many as it needs. */
const MAX_COUNTS_PER_MESSAGE = 10_000;
/** How often a node tells all its counts again. */
export const REFRESH_MS = 5000;
/** A node not heard from for this many refreshes (15 s by default) is forgotten. */
const EXPIRE_REFRESHES = 3;

export interface RedisLimitPeersOptions extends RedisConnectionOptions {
  url: string;
  /** The deployment's key prefix: the channel is `<prefix>limits`. */
  prefix: string;
  /** Who sends (distinct per server, two in one process included): its own messages, which Redis sends back to it too, are skipped. */
  sender: string;
  logger: Logger;
  /** How often this node tells all its counts again (default REFRESH_MS). */
  refreshMs?: number;
  /** A node not heard from for this long is forgotten (default EXPIRE_REFRESHES refreshes). */
  expireMs?: number;
}

/**
 * What crosses `<prefix>limits`: spends (summed per budget and key), counts of connections
 * (the latest per cap and key, 0 to forget one), and `reset` (the counts of this message, and
 * of those that follow it before the next reset, are all the sender holds: forget the rest).
 */
interface Message {
  sender: string;
  spends?: Spend[];
  counts?: Held[];
  reset?: true;
  /** A node that started: the others tell it their counts (a refresh) within HELLO_SPREAD_MS. */
  hello?: true;
}

/** The others' refreshes after a hello are spread over this long. */
const HELLO_SPREAD_MS = 50;

/**
 * The rate budgets and the caps of connections per client of every node of one Redis deployment
 * (each worker of `--workers` a node of its own), shared over sharded pub/sub (one channel,
 * `<prefix>limits`):
 *
 * - Budgets: what this node's clients spend is gathered for FLUSH_MS, summed per budget and key,
 *   and published (`SPUBLISH`, fire and forget); every other node charges it to its own buckets
 *   (Limits.absorb). So a client whose requests a load balancer spreads over n nodes gets one
 *   budget for the deployment, not n: each node refuses it once all of them together spent it,
 *   some ten milliseconds and a Redis hop late.
 * - Caps: how many connections an address or a member holds here, as Limits tells it (from
 *   SHARED_FROM on), published with the spends; and all of them again every `refreshMs` (with
 *   `reset`), so that a node that started, or whose subscriber was away, learns them. A node
 *   not heard from for `expireMs` (it died without a word: a kill -9, a lost network) is
 *   forgotten, so its clients, who reconnect elsewhere, count once again; a node that closes
 *   says so (an empty reset) and is forgotten at once.
 *
 * While Redis cannot be reached, nothing is told (spends are dropped, never queued; counts are
 * told again at the next refresh once it is back), and the other nodes' counts expire: each
 * node's budgets and caps hold alone meanwhile.
 */
export class RedisLimitPeers implements LimitPeers {
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly channel: string;
  private pending = new Map<Budget, Map<string, number>>();
  private keys = 0;
  /** Spends (calls of `spent`) in `pending`. */
  private spends = 0;
  /** The counts this node holds (from SHARED_FROM on, as told), and those changed since the last flush. */
  private readonly held = { address: new Map<string, number>(), member: new Map<string, number>() };
  private changed = { address: new Map<string, number>(), member: new Map<string, number>() };
  private timer: NodeJS.Timeout | undefined;
  private refresher: NodeJS.Timeout | undefined;
  /** A refresh that answers the hellos of nodes that just started, when one is due. */
  private answering: NodeJS.Timeout | undefined;
  private handler: (spends: readonly Spend[]) => void = () => {};
  private heldHandler: (peer: string, counts: readonly Held[]) => void = () => {};
  private goneHandler: (peer: string) => void = () => {};
  /** When each other node was last heard (performance.now()). */
  private readonly heard = new Map<string, number>();
  private running = false;
  private readonly refreshMs: number;
  private readonly expireMs: number;
  /** Spends not told (see LimitPeers.dropped): while not running or Redis not ready (at close too), a publish that failed, and new keys past MAX_KEYS_PER_FLUSH. */
  dropped = 0;

  constructor(private readonly o: RedisLimitPeersOptions) {
    this.channel = `${o.prefix}limits`;
    this.refreshMs = o.refreshMs ?? REFRESH_MS;
    this.expireMs = o.expireMs ?? EXPIRE_REFRESHES * this.refreshMs;
    this.publisher = createRedisClient(o.url, { ...o, connectionName: 'switchboard-limits-pub' });
    this.subscriber = createRedisClient(o.url, { ...o, connectionName: 'switchboard-limits-sub', shardedSubscribers: true });
    this.subscriber.on('smessage', (channel: string, payload: string) => {
      if (channel === this.channel) this.receive(payload);
    });
    // A subscriber that reconnected listens again (what was published meanwhile is not heard:
    // budgets held per node) and says hello, so that the others tell their counts again at once.
    this.subscriber.on('ready', () => {
      if (!this.running) return;
      this.subscriber
        .ssubscribe(this.channel)
        .then(() => this.publish({ sender: this.o.sender, hello: true }))
        .catch(() => {});
    });
  }

  /** Connects both clients and listens; rejects (leaving nothing open) when Redis does not answer in time. */
  async init(): Promise<void> {
    try {
      await Promise.all([waitUntilReady(this.publisher, this.o.connectTimeoutMs ?? 5000), waitUntilReady(this.subscriber, this.o.connectTimeoutMs ?? 5000)]);
      await this.subscriber.ssubscribe(this.channel);
      this.running = true;
      this.refresher = setInterval(this.refresh, this.refreshMs).unref();
      await this.publish({ sender: this.o.sender, hello: true }).catch(() => {});
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Stops: what was spent here and not told yet is told at once (not dropped, unless Redis does
   * not answer), then the other nodes are told to forget this one's counts (an empty reset).
   * Spends from now on are dropped (counted).
   */
  async close(): Promise<void> {
    const running = this.running;
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.refresher);
    clearTimeout(this.answering);
    this.timer = this.refresher = this.answering = undefined;
    if (running) {
      // One connection, one shard: the spends arrive before the goodbye.
      const told = this.tellPending();
      if (this.publisher.status === 'ready') await Promise.all([told, this.publish({ sender: this.o.sender, counts: [], reset: true }).catch(() => {})]);
      else await told;
    }
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
    this.schedule();
  }

  onSpent(handler: (spends: readonly Spend[]) => void): void {
    this.handler = handler;
  }

  holds(cap: Held[0], key: string, open: number): void {
    if (open > 0) this.held[cap].set(key, open);
    else this.held[cap].delete(key);
    if (!this.running) return; // told at the first refresh
    this.changed[cap].set(key, open);
    this.schedule();
  }

  onHolds(handler: (peer: string, counts: readonly Held[]) => void, gone: (peer: string) => void): void {
    this.heldHandler = handler;
    this.goneHandler = gone;
  }

  private schedule(): void {
    this.timer ??= setTimeout(this.flush, FLUSH_MS).unref();
  }

  private readonly flush = (): void => {
    this.timer = undefined;
    void this.tellPending();
  };

  /** Publishes what was gathered (spends, and counts that changed); resolves once told or counted dropped. */
  private tellPending(): Promise<void> | undefined {
    const spends: Spend[] = [];
    for (const [budget, byKey] of this.pending) for (const [key, units] of byKey) spends.push([budget, key, units]);
    const counts: Held[] = [];
    for (const cap of ['address', 'member'] as const) for (const [key, open] of this.changed[cap]) counts.push([cap, key, open]);
    const told = this.spends;
    this.pending = new Map();
    this.changed = { address: new Map(), member: new Map() };
    this.keys = 0;
    this.spends = 0;
    if (spends.length === 0 && counts.length === 0) return undefined;
    if (this.publisher.status !== 'ready') {
      // Counts not told now are told at the next refresh.
      this.dropped += told;
      return undefined;
    }
    return this.publish({ sender: this.o.sender, ...(spends.length > 0 ? { spends } : {}), ...(counts.length > 0 ? { counts } : {}) }).catch((err: unknown) => {
      this.dropped += told;
      this.o.logger.debug({ err }, 'budgets spent and connections held not told to the other nodes');
    });
  }

  /**
   * Every refreshMs: all the counts held here again (a reset, in messages of at most
   * MAX_COUNTS_PER_MESSAGE; an empty one when none, which says this node is alive), and the
   * nodes not heard from for expireMs forgotten.
   */
  private readonly refresh = (): void => {
    const now = performance.now();
    for (const [peer, at] of this.heard) {
      if (now - at < this.expireMs) continue;
      this.heard.delete(peer);
      this.goneHandler(peer);
    }
    if (this.publisher.status !== 'ready') return;
    const all: Held[] = [];
    for (const cap of ['address', 'member'] as const) for (const [key, open] of this.held[cap]) all.push([cap, key, open]);
    // What changed since the last flush is in `all` now: not told twice.
    this.changed = { address: new Map(), member: new Map() };
    for (let i = 0; i === 0 || i < all.length; i += MAX_COUNTS_PER_MESSAGE) {
      const message: Message = { sender: this.o.sender, counts: all.slice(i, i + MAX_COUNTS_PER_MESSAGE), ...(i === 0 ? { reset: true as const } : {}) };
      this.publish(message).catch((err: unknown) => this.o.logger.debug({ err }, 'connections held not told to the other nodes'));
    }
  };

  private async publish(message: Message): Promise<void> {
    await this.publisher.spublish(this.channel, JSON.stringify(message));
  }

  /** Another node's spends and counts (our own come back too: skipped). Anything else on the channel is ignored. */
  private receive(payload: string): void {
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { sender, spends, counts, reset, hello } = message as { sender?: unknown; spends?: unknown; counts?: unknown; reset?: unknown; hello?: unknown };
    if (typeof sender !== 'string' || sender === this.o.sender) return;
    this.heard.set(sender, performance.now());
    // A node that just started asks for everyone's counts: told soon (spread, so that not all answer at once).
    // Several starting at once (a rolling restart) are answered by one refresh each.
    if (hello === true && this.running && this.answering === undefined) {
      this.answering = setTimeout(() => {
        this.answering = undefined;
        this.refresh();
      }, Math.random() * HELLO_SPREAD_MS).unref();
    }
    if (Array.isArray(spends)) this.handler(spends.filter((s): s is Spend => Array.isArray(s) && s.length === 3 && typeof s[0] === 'string' && typeof s[1] === 'string' && typeof s[2] === 'number'));
    if (!Array.isArray(counts)) return;
    // A reset: what the sender held before is forgotten (an empty one: it closed, or holds nothing).
    if (reset === true) this.goneHandler(sender);
    const valid = counts.filter((c): c is Held => Array.isArray(c) && c.length === 3 && (c[0] === 'address' || c[0] === 'member') && typeof c[1] === 'string' && typeof c[2] === 'number');
    if (valid.length > 0) this.heldHandler(sender, valid);
  }
}
