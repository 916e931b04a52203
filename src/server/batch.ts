import type { Entry } from '../protocol/types.js';

/**
 * Entries of one room that go out together: everything that reached the room within one turn
 * of the event loop. Encodings are computed once per format and shared by every recipient, so
 * a broadcast to N sockets costs one encode plus N writes.
 */
export class Batch {
  private readonly cache = new Map<string, unknown>();

  constructor(
    readonly room: string,
    readonly epoch: string,
    /** Contiguous, ascending by seq. Never empty. */
    readonly entries: readonly Entry[],
  ) {}

  get firstSeq(): number {
    return this.entries[0]!.seq;
  }

  get lastSeq(): number {
    return this.entries[this.entries.length - 1]!.seq;
  }

  /** The encoding of this batch under `format`, computed on first use. */
  encoded<T>(format: string, encode: (batch: Batch) => T): T {
    let value = this.cache.get(format) as T | undefined;
    if (value === undefined) {
      value = encode(this);
      this.cache.set(format, value);
    }
    return value;
  }

  /** The part of this batch after `seq` (this batch itself when nothing is cut), or undefined when nothing is left. */
  after(seq: number): Batch | undefined {
    if (seq < this.firstSeq) return this;
    if (seq >= this.lastSeq) return undefined;
    return new Batch(this.room, this.epoch, this.entries.slice(seq - this.firstSeq + 1));
  }
}

const jsonCache = new WeakMap<Entry, string>();

/** JSON of an entry, computed once per entry object whatever the number of recipients. */
export function entryJson(entry: Entry): string {
  let json = jsonCache.get(entry);
  if (json === undefined) {
    json = JSON.stringify(entry);
    jsonCache.set(entry, json);
  }
  return json;
}
