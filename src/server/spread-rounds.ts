/** A member of a SpreadRounds: the slot it is in, kept on the member itself (no map entry per connection). */
export interface Spread {
  /** Its slot; -1 when in none. Set by SpreadRounds only. */
  spreadSlot: number;
}

/** A slot is visited every this long at least, whatever the interval: a round's work comes in small pieces. */
export const SLOT_MS = 250;
/** At most this many slots (an interval of more than 25 s has slots of more than SLOT_MS). */
export const MAX_SLOTS = 100;
/** Members visited per event-loop turn: a crowded slot (a short interval, many members) goes on in the next turns. */
export const SLICE = 512;

/**
 * Visits each member once every `ms`, the visits spread evenly over the interval: members are
 * dealt round the slots of the interval as they join (one slot per SLOT_MS, at most MAX_SLOTS),
 * and one timer visits the next slot every `ms / slots`. The periodic work of every connection
 * of a process (WebSocket pings, SSE keepalive comments) then costs a small piece every quarter
 * of a second, not one wave of tens of thousands of writes, and of the answers they bring, that
 * holds the event loop (and every client's delivery behind it) once per interval.
 *
 * A member's visits are `ms` apart (a tick later when a crowded slot's visit still went on);
 * its first comes at most `ms` after it joined. A slot's visit takes SLICE members per
 * event-loop turn. The timer runs only while there are members,
 * and never holds the process open.
 */
export class SpreadRounds<T extends Spread> {
  private readonly slots: Set<T>[];
  /** The slot the next tick visits. */
  private next = 0;
  /** Members dealt so far (the next one goes to slot `dealt % slots`). */
  private dealt = 0;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The slot visit under way, when it takes more than one turn. */
  private visiting: Iterator<T> | undefined;

  constructor(
    private readonly ms: number,
    /** Visits a member; false drops it (a member may also drop itself, or others, while visited). */
    private readonly visit: (member: T) => boolean,
  ) {
    const slots = Math.max(1, Math.min(MAX_SLOTS, Math.round(ms / SLOT_MS)));
    this.slots = Array.from({ length: slots }, () => new Set<T>());
  }

  get size(): number {
    return this.count;
  }

  /** Slots of the interval (for tests). */
  get slotCount(): number {
    return this.slots.length;
  }

  add(member: T): void {
    if (member.spreadSlot >= 0) return;
    const slot = this.dealt++ % this.slots.length;
    member.spreadSlot = slot;
    this.slots[slot]!.add(member);
    this.count++;
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.ms / this.slots.length);
      this.timer.unref();
    }
  }

  delete(member: T): void {
    const slot = member.spreadSlot;
    if (slot < 0 || !this.slots[slot]!.delete(member)) return;
    member.spreadSlot = -1;
    if (--this.count === 0) this.stop();
  }

  /** Stops the timer and the visit under way (members stay; the next `add` starts it again). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.visiting = undefined;
  }

  private tick(): void {
    if (this.visiting !== undefined) return; // the last slot's visit still goes on: this slot waits for the next tick
    this.visiting = this.slots[this.next]!.values();
    this.next = (this.next + 1) % this.slots.length;
    this.continueVisit();
  }

  private continueVisit(): void {
    // A Set's iterator skips members deleted while it runs.
    for (let n = 0; n < SLICE; n++) {
      const visiting = this.visiting;
      if (visiting === undefined) return; // stopped meanwhile
      const next = visiting.next();
      if (next.done) {
        this.visiting = undefined;
        return;
      }
      if (!this.visit(next.value)) this.delete(next.value);
    }
    setImmediate(() => this.continueVisit());
  }
}
