import type { PresenceMember } from '../../protocol/types.js';
import type { PresenceAnswers, PresenceCall } from '../workers/ipc-protocol.js';
import type { PrimaryClient } from '../workers/primary-client.js';
import type { GoneMember, PresenceAdded, PresenceConnection, PresenceLookup, PresenceRemoved, PresenceStore } from './presence-store.js';

/** How long a call waits for the primary before it rejects. */
const CALL_TIMEOUT_MS = 5000;

/**
 * The presence store of a worker process (`--workers N` without Redis): every call is a request to
 * the primary process, which holds the one MemoryPresenceStore of all workers
 * (src/server/workers/presence-host.ts), so the contract of PresenceStore holds across workers:
 * the primary runs the calls one at a time, each atomic. A call without an answer within 5 s
 * rejects with PrimaryUnavailableError (the presence tracker logs it and tries again at its next
 * tick). Presence lives as long as the primary: it is not durable, as with the memory store.
 */
export class IpcPresenceStore implements PresenceStore {
  readonly kind = 'ipc';

  constructor(private readonly primary: PrimaryClient) {}

  async add(room: string, conn: PresenceConnection, expiresAt: number, restore = false): Promise<PresenceAdded> {
    const added: PresenceAdded | boolean = await this.call({ method: 'add', room, conn: { id: conn.id, member: conn.member, name: conn.name, transport: conn.transport, ...(conn.node !== undefined ? { node: conn.node } : {}) }, expiresAt, ...(restore ? { restore } : {}) });
    // A primary started from an older build (new workers after a SIGHUP roll) answers whether the member arrived.
    return typeof added === 'boolean' ? (added ? 'arrived' : 'changed') : added;
  }

  async release(room: string, member: string, id: string): Promise<PresenceRemoved> {
    const released: PresenceRemoved | undefined = await this.call({ method: 'release', room, member, id });
    // A primary started from an older build (new workers after a SIGHUP roll) knows no release and
    // answers nothing: the record stays for the grace, as it did there.
    return released ?? 'none';
  }

  async remove(room: string, member: string, id: string, node?: string): Promise<PresenceRemoved> {
    // `connectionId` on the wire: the record id (an older primary knows this name).
    const removed: PresenceRemoved | boolean = await this.call({ method: 'remove', room, member, connectionId: id, ...(node !== undefined ? { node } : {}) });
    // A primary started from an older build (new workers after a SIGHUP roll) answers whether the member left.
    return typeof removed === 'boolean' ? (removed ? 'left' : 'changed') : removed;
  }

  async refresh<C extends { room: string; member: string; id: string }>(conns: C[], expiresAt: number, node?: string): Promise<C[]> {
    if (conns.length === 0) return [];
    const missing = await this.call({ method: 'refresh', conns: conns.map((c) => ({ room: c.room, member: c.member, id: c.id })), expiresAt, ...(node !== undefined ? { node } : {}) });
    return missing.map((i) => conns[i]!);
  }

  members(room: string, now: number, limit?: number, nodes = false): Promise<PresenceMember[]> {
    // The limit goes with the call: a room of 20,000 is not sent over IPC to be cut to 101.
    return this.call({ method: 'members', room, now, ...(limit !== undefined && limit !== Infinity ? { limit } : {}), ...(nodes ? { nodes } : {}) });
  }

  lookup(room: string, members: readonly string[], now: number, cap: number): Promise<PresenceLookup> {
    return this.call({ method: 'lookup', room, members: [...members], now, cap });
  }

  async counts(rooms: string[], now: number): Promise<Map<string, number>> {
    return new Map(await this.call({ method: 'counts', rooms, now }));
  }

  reap(now: number): Promise<GoneMember[]> {
    return this.call({ method: 'reap', now });
  }

  /** The primary's store outlives this worker: nothing to close here. */
  async close(): Promise<void> {}

  private call<M extends PresenceCall>(call: M): Promise<PresenceAnswers[M['method']]> {
    return this.primary.request<PresenceAnswers[M['method']]>({ op: 'presence', call }, CALL_TIMEOUT_MS);
  }
}
