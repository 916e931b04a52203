/** The links a member of a {@link IntrusiveList} carries: set by the list, read by nobody else. */
export interface Linked<T> {
  listPrev: T | undefined;
  listNext: T | undefined;
  /** The list it is in; undefined when in none (a member is in one list at a time). */
  listOwner: object | undefined;
}

/**
 * A list of short-lived members (held long polls, connections of one request), in the order
 * they were added, whose links are fields of the members themselves: adding and deleting
 * allocate nothing, and a member that leaves keeps no link to another.
 *
 * Why not a Set: a Set's hash table is made again as it grows, shrinks or fills with deleted
 * entries, and a long-lived Set's table is in the old generation. The table left behind still
 * points at the members it held, and V8's minor GCs take every pointer from the old generation
 * as alive until the next major GC: members that came and went young (a held poll, its session,
 * its request and response) were copied, then promoted to the old generation, there to die.
 * `costs.ts poll` measured about 1 KB promoted per long poll, from two Sets of held polls.
 */
export class IntrusiveList<T extends Linked<T>> {
  private first: T | undefined;
  private last: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `w` at the end; nothing when it is in this list already. Throws when it is in another. */
  add(w: T): void {
    if (w.listOwner === this) return;
    if (w.listOwner !== undefined) throw new Error('a waiter is in one list at a time');
    w.listOwner = this;
    w.listPrev = this.last;
    w.listNext = undefined;
    if (this.last === undefined) this.first = w;
    else this.last.listNext = w;
    this.last = w;
    this.count++;
  }

  /** Removes `w`; false when it was not in this list. */
  delete(w: T): boolean {
    if (w.listOwner !== this) return false;
    const { listPrev: prev, listNext: next } = w;
    if (prev === undefined) this.first = next;
    else prev.listNext = next;
    if (next === undefined) this.last = prev;
    else next.listPrev = prev;
    w.listPrev = undefined;
    w.listNext = undefined;
    w.listOwner = undefined;
    this.count--;
    return true;
  }

  /** True when `w` is in this list. */
  has(w: T): boolean {
    return w.listOwner === this;
  }

  /** Removes every member; returns them, in order. */
  clear(): T[] {
    const all = [...this];
    for (const w of all) {
      w.listPrev = undefined;
      w.listNext = undefined;
      w.listOwner = undefined;
    }
    this.first = undefined;
    this.last = undefined;
    this.count = 0;
    return all;
  }

  /** The members in order. The walk may delete the member it is at, no other. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let w = this.first; w !== undefined; ) {
      const next = w.listNext;
      yield w;
      w = next;
    }
  }

  /** Calls `fn` with each member in order, without an iterator object. `fn` may delete the member it is given, no other. */
  forEach(fn: (w: T) => void): void {
    for (let w = this.first; w !== undefined; ) {
      const next = w.listNext;
      fn(w);
      w = next;
    }
  }
}
