import type { TransportName, TypingNotice } from '../protocol/types.js';
import type { Batch } from './batch.js';
import type { Linked } from './intrusive-list.js';
import type { Notice } from './notice.js';

/**
 * A live recipient of one room: a WebSocket subscription, an SSE stream, a held long poll.
 * The hub calls `deliver` with batches in seq order, each starting right after `position`
 * (it cuts what the subscriber has seen), and updates `position` itself.
 */
export interface Subscriber {
  readonly transport: TransportName;
  /** Seq of the last entry handed over. Set by the hub. */
  position: number;
  deliver(batch: Batch): void;
  /** Ephemeral notices; optional (polling clients read typing state from the room instead). */
  deliverTyping?(notice: TypingNotice, encoded: Notice): void;
  /** Ephemeral presence notices (`{type: 'presence', room, members}`, encoded once per format); optional. */
  deliverPresence?(notice: Notice): void;
  /** Ephemeral read receipts (`{type: 'receipt', room, member, name, seq}`, encoded once per format); optional. */
  deliverReceipt?(notice: Notice): void;
  /**
   * The room's history was reset while subscribed (new epoch): positions of the old history mean
   * nothing, so the subscriber must end; its client resumes and is told `reset`. The hub has
   * already dropped it. `deleted`: the room itself is gone.
   */
  historyReset(deleted?: boolean): void;
}

/**
 * A subscriber for one delivery at most (a held long poll): its channel keeps it in a list of
 * its own, linked through the subscriber (IntrusiveList), not in the Set of the others, as it
 * comes and goes at every request.
 */
export interface OnceSubscriber extends Subscriber, Linked<OnceSubscriber> {}
