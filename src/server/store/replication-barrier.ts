import type { Cluster, Redis } from 'ioredis';
import clusterKeySlot from 'cluster-key-slot';
import { SwitchboardError } from '../../protocol/errors.js';
import { isCluster, type RedisClient } from '../redis-connection.js';

/**
 * Confirms that a connection's writes reached `replicas` Redis replicas before they are
 * acknowledged, with Redis `WAIT` (which waits for every write the connection made before it).
 * Writes confirmed at about the same time share one WAIT: while one is out, the writes that ask
 * meanwhile wait for the next, sent once it returns. (Redis holds a connection's later commands
 * behind a WAIT anyway, so one per write would serialise every append behind a replication round
 * trip.) A WAIT that finds fewer replicas within `timeoutMs`, or fails, refuses every write that
 * waited on it with STORE_UNAVAILABLE: the write may still be on the master (a retry with the same
 * clientId finds it), but it is not acknowledged, nor delivered, as something a failover could take back.
 *
 * A WAIT covers only the writes of its own connection: a write made before the client connected
 * again (to the master a failover promoted, say, under Sentinel) is refused too, as not known to
 * be anywhere but on a master that may be gone (`confirm(since)`, `since` read before the write).
 */
export class ReplicationBarrier {
  /** The writes waiting for the next WAIT; undefined when none is. */
  private next: Waiters | undefined;
  private waiting = false;
  /** Connections the client lost so far (its `close` events): a write and the WAIT that confirms it must be on one. */
  private lost = 0;

  constructor(
    private readonly redis: Redis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    redis.on('close', () => this.lost++);
  }

  /** The client's connection now: read before a write, given to `confirm` after it. */
  get connection(): number {
    return this.lost;
  }

  /**
   * Resolves once every write this connection made so far is on `replicas` replicas; rejects with
   * STORE_UNAVAILABLE otherwise, or when the client lost its connection since `since` (a write
   * made before that is not covered by a WAIT on the next).
   */
  async confirm(since = this.lost): Promise<void> {
    if (since !== this.lost) throw reconnected();
    const waiters = (this.next ??= new Waiters());
    if (!this.waiting) this.send();
    await waiters.promise;
    if (since !== this.lost) throw reconnected();
  }

  private send(): void {
    const waiters = this.next;
    this.next = undefined;
    if (waiters === undefined) return;
    this.waiting = true;
    this.redis.wait(this.replicas, this.timeoutMs).then(
      (reached) => {
        if (reached >= this.replicas) waiters.resolve();
        else waiters.reject(new SwitchboardError('STORE_UNAVAILABLE', `written, but on ${reached} of ${this.replicas} Redis replicas after ${this.timeoutMs} ms: not acknowledged`));
      },
      (err: unknown) => waiters.reject(new SwitchboardError('STORE_UNAVAILABLE', `replication not confirmed: ${err instanceof Error ? err.message : String(err)}`)),
    ).finally(() => {
      this.waiting = false;
      this.send();
    });
  }
}

function reconnected(): SwitchboardError {
  return new SwitchboardError('STORE_UNAVAILABLE', 'replication not confirmed: the connection to Redis was lost since the write');
}

/** Where a write went: taken just before it (`Replication.before`), confirmed after it. */
export interface WriteMark {
  /** Undefined when the key's slot had no known master (a cluster between two maps of its slots): never confirmed. */
  readonly barrier: ReplicationBarrier | undefined;
  readonly connection: number;
  /** In a Redis Cluster: the key written, and the master that served its slot when the write was sent. */
  readonly key?: string;
  readonly master?: Redis;
}

/**
 * Confirms writes on the replicas (`--redis-replicas`), through one Redis or a Redis Cluster.
 * In a cluster each master has its own replicas, and WAIT counts those of the master it is sent
 * to: a write is confirmed by a WAIT on the connection to the master of its key's slot (one
 * ReplicationBarrier per master, so the writes of a moment to one master share a WAIT, and a
 * master whose replicas lag holds back only its own slots). A write whose slot changed master
 * between the write and the end of its WAIT (a failover, a resharding: the client followed a
 * MOVED) is refused with STORE_UNAVAILABLE: the WAIT did not cover it.
 */
export class Replication {
  /** One Redis: its one barrier. */
  private readonly single: ReplicationBarrier | undefined;
  /** Redis Cluster: a barrier per master, for as long as the client keeps that master's connection. */
  private readonly perMaster = new WeakMap<Redis, ReplicationBarrier>();

  constructor(
    private readonly redis: RedisClient,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    this.single = isCluster(redis) ? undefined : new ReplicationBarrier(redis, replicas, timeoutMs);
  }

  /** Read just before writing `key`: where the write goes. */
  before(key: string): WriteMark {
    if (this.single) return { barrier: this.single, connection: this.single.connection };
    const master = masterOf(this.redis as Cluster, key);
    if (master === undefined) return { barrier: undefined, connection: 0, key };
    let barrier = this.perMaster.get(master);
    if (barrier === undefined) this.perMaster.set(master, (barrier = new ReplicationBarrier(master, this.replicas, this.timeoutMs)));
    return { barrier, connection: barrier.connection, key, master };
  }

  /**
   * The masters that have more replicas linked than the writes wait for (INFO replication's
   * `connected_slaves`), with how many: a failover may promote a replica that had not confirmed a
   * write acknowledged on another, and lose it (docs/operations.md, "Redis Sentinel"). One Redis
   * (or Sentinel's master): the one; a cluster: every master the client knows.
   */
  async overReplicated(): Promise<{ master: string; replicas: number }[]> {
    const masters = this.single ? [this.redis as Redis] : (this.redis as Cluster).nodes('master');
    const counts = await Promise.all(
      masters.map(async (node) => {
        const info = await node.info('replication');
        // The address connected to (through Sentinel, the options name no master).
        const { remoteAddress, remotePort } = node.stream;
        return { master: `${remoteAddress ?? node.options.host ?? ''}:${remotePort ?? node.options.port ?? ''}`, replicas: Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0) };
      }),
    );
    return counts.filter((c) => c.replicas > this.replicas);
  }

  /** Resolves once the write `mark` was taken for is on the replicas; rejects with STORE_UNAVAILABLE otherwise. */
  async confirm(mark: WriteMark): Promise<void> {
    const moved = (): boolean => mark.key !== undefined && masterOf(this.redis as Cluster, mark.key) !== mark.master;
    if (mark.barrier === undefined || moved()) throw movedError(mark.key!);
    await mark.barrier.confirm(mark.connection);
    if (moved()) throw movedError(mark.key!);
  }
}

function movedError(key: string): SwitchboardError {
  return new SwitchboardError('STORE_UNAVAILABLE', `replication not confirmed: the Redis Cluster slot of ${key} has no master, or another one since the write`);
}

/** The connection of the cluster client to the master serving `key`'s slot, as the client routes a write of it now. */
function masterOf(cluster: Cluster, key: string): Redis | undefined {
  const nodeKey = cluster.slots[clusterKeySlot(key)]?.[0];
  if (nodeKey === undefined) return undefined;
  return cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === nodeKey);
}

/**
 * A key in the slot of `key`, for a write whose only use is to be covered by a WAIT on that
 * slot's master (a read, or a key another node wrote, confirmed through this connection): the
 * key's hash tag when it has one (`sb:room:{R}` → `sb:room:{R}:probe`), else the whole key as
 * the tag (`sb:node-secret` → `{sb:node-secret}:probe`).
 */
export function probeKey(key: string): string {
  return /\{[^}]+\}/.test(key) ? `${key}:probe` : `{${key}}:probe`;
}

/** One promise for every write that waits on one WAIT. */
class Waiters {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Each caller awaits it; none attached yet must not make it an unhandled rejection.
    this.promise.catch(() => {});
  }
}
