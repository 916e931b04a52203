import type { Entry, PresenceNotice, ReadReceipt, TypingNotice } from '../../protocol/types.js';

/** What travels between nodes: stored entries, ephemeral notices, and administrators' orders. */
export type BrokerMessage =
  | { kind: 'entry'; epoch: string; entry: Entry }
  | { kind: 'typing'; notice: TypingNotice }
  | { kind: 'presence'; notice: PresenceNotice }
  /**
   * Members' read positions moved in a room (ephemeral, like typing): a node's receipts of one
   * window (Hub.receipt), the first in `receipt`, the others of the same room in `more` (a node
   * older than `more` takes the first and leaves the rest: receipts are ephemeral).
   */
  | { kind: 'receipt'; receipt: ReadReceipt; more?: ReadReceipt[] }
  /** A room's history was reset or the room deleted: its live channels end their subscribers. */
  | { kind: 'room'; action: 'reset' | 'delete'; room: string }
  /**
   * An administrator ends a member's connections (in one room, when given) on every node; `at`:
   * when it was ordered (ms, the ordering node's clock), for the polls it refuses afterwards.
   */
  | { kind: 'disconnect'; member: string; room?: string; at?: number };

/** An administrator's disconnect order as remembered (see Broker.recentDisconnects). */
export interface DisconnectOrder {
  member: string;
  room?: string;
  /** When it was ordered (ms). */
  at: number;
}

/** Disconnect orders remembered at most, by a hub and by what shares them (the oldest forgotten first): bounded whatever the orders' rate. */
export const MAX_DISCONNECTS_REMEMBERED = 10_000;

/**
 * Live fan-out between the nodes that serve the same rooms. The contract:
 *
 * - `publish` hands a message to every node, this one included, through `onMessage`.
 *   An entry is published only after the store acknowledged it, so a node that misses a
 *   broker message can always read it back from the store.
 * - Order between messages of one room is NOT guaranteed across nodes: receivers order entries by
 *   seq and fill gaps from the store (the hub does this), so a broker may be at-most-once.
 * - `publish` never throws for a single lost message: fan-out is best effort; durability is the store's.
 */
export interface Broker {
  readonly kind: string;
  init(): Promise<void>;
  publish(message: BrokerMessage): Promise<void>;
  /** Sets the one handler of incoming messages (the hub). */
  onMessage(handler: (message: BrokerMessage) => void): void;
  /**
   * Sets the one handler called each time the broker listens again after it stopped (a lost
   * connection): messages published meanwhile never came, so the hub reads them from the store.
   * Brokers that cannot lose their subscription (local) never call it.
   */
  onReconnect?(handler: () => void): void;
  /**
   * Per-room interest (optional). A broker that has it delivers a room's 'entry', 'typing',
   * 'presence', 'receipt' and 'room' messages only to nodes that called `watch(room)` (and not `unwatch` since);
   * 'disconnect' orders still go to every node. `watch` resolves once the interest is active: a
   * message published after it resolves reaches this node. Calls are counted per room: N watches
   * need N unwatches. A broker without these methods delivers every room to every node.
   */
  watch?(room: string): Promise<void>;
  /**
   * The disconnect orders of the last TICKET_MAX_AGE_MS (at most MAX_DISCONNECTS_REMEMBERED, the
   * latest), as shared by the nodes (optional): a node that starts reads them, so the polls it
   * serves refuse the tickets those orders ended as the nodes that heard them do. A broker
   * without it shares none past a restart (local: one node; ipc: the workers of one node, whose
   * primary keeps none): the hub keeps them with the data instead (MessageStore.keepDisconnect),
   * for the nodes on that data (one node, or every worker on the SQLite file) after a restart.
   */
  recentDisconnects?(): Promise<readonly DisconnectOrder[]>;
  unwatch?(room: string): void;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The room a message is about; undefined for a disconnect order (every node gets those). */
export function roomOf(message: BrokerMessage): string | undefined {
  switch (message.kind) {
    case 'entry':
      return message.entry.room;
    case 'typing':
    case 'presence':
      return message.notice.room;
    case 'receipt':
      return message.receipt.room;
    case 'room':
      return message.room;
    case 'disconnect':
      return undefined;
  }
}
