import type { PresenceStore } from '../presence/presence-store.js';
import type { PresenceAnswers, PresenceCall } from './ipc-protocol.js';

/**
 * Runs one presence call of a worker against the primary's store (a MemoryPresenceStore): the
 * other side of IpcPresenceStore. The memory store runs each call to its end before the next
 * starts (its methods do not wait on anything), so every call is atomic across workers.
 */
export async function runPresenceCall(store: PresenceStore, call: PresenceCall): Promise<PresenceAnswers[PresenceCall['method']]> {
  switch (call.method) {
    case 'add':
      return store.add(call.room, call.conn, call.expiresAt, call.restore === true);
    case 'release':
      return store.release(call.room, call.member, call.id);
    case 'remove':
      return store.remove(call.room, call.member, call.connectionId, call.node);
    case 'refresh': {
      const indexed = call.conns.map((c, i) => ({ ...c, i }));
      return (await store.refresh(indexed, call.expiresAt, call.node)).map((c) => c.i);
    }
    case 'members':
      return store.members(call.room, call.now, call.limit, call.nodes === true);
    case 'lookup':
      return store.lookup(call.room, call.members, call.now, call.cap);
    case 'counts':
      return [...(await store.counts(call.rooms, call.now))];
    case 'reap':
      return store.reap(call.now);
  }
}
