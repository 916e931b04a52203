import type { AmendmentEntry, Entry, MessageEntry, ReactionSummary } from '../protocol/types.js';

/** Reactions list at most this many members per emoji (`by`); `count` stays exact. */
const MAX_REACTORS = 50;
/** Amendments whose message is not known yet, kept until it comes (a history page in flight). */
const MAX_ORPHANS = 1000;

export interface FoldedMessagesOptions {
  /** Keep at most this many messages, the newest by seq (default: no bound). */
  max?: number;
}

/**
 * A client's copy of a room's messages with every amendment folded in, as the server folds them
 * (docs/client.md): feed it history pages (`load`, any order) and live entries (`apply`, the
 * client's `entry` event), and read messages back with their current text, `edited`, `deleted`,
 * `reactions` and `folded`.
 *
 * Rules: an amendment at or below a message's `folded` is skipped (already in it), so replays and
 * overlapping pages change nothing; a copy with a higher `folded` replaces a lower one. A delete
 * blanks the message (text '', no data, event, reply or reactions) and the preview of every reply quoting
 * it, and drops its reactions (as the server does). Reactions are kept by member: `count` exact, `by` the first 50. An amendment whose message
 * is not here yet waits (bounded) and is applied when the message comes. Messages are immutable
 * objects: a change makes a new one, so `apply`'s result can be compared by identity.
 */
export class FoldedMessages {
  private readonly bySeq = new Map<number, MessageEntry>();
  /** The seqs of bySeq, ascending (live messages come last: appended). */
  private readonly seqs: number[] = [];
  private readonly orphans: AmendmentEntry[] = [];
  private readonly max: number;

  constructor(options: FoldedMessagesOptions = {}) {
    this.max = options.max !== undefined && options.max > 0 ? Math.floor(options.max) : Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.bySeq.size;
  }

  get(seq: number): MessageEntry | undefined {
    return this.bySeq.get(seq);
  }

  /** The messages, ascending by seq. */
  messages(): MessageEntry[] {
    return this.seqs.map((seq) => this.bySeq.get(seq)!);
  }

  /**
   * Forgets the messages at or below `seq` (a view that no longer shows them: a list trimmed at its
   * top), so that a copy kept for a long session holds what is shown, not all that was. Returns how
   * many were forgotten. A history page brings them back as it brought them first; an amendment of
   * a forgotten message meanwhile waits as one of a message not here yet.
   */
  forgetThrough(seq: number): number {
    const count = firstAbove(this.seqs, seq);
    for (const s of this.seqs.splice(0, count)) this.bySeq.delete(s);
    return count;
  }

  /** Entries of any order (history pages, a poll's batch): each applied as by `apply`. */
  load(entries: Iterable<Entry>): void {
    for (const entry of entries) this.apply(entry);
  }

  /**
   * Folds one entry in. Returns the message that was added or changed (for an amendment: its
   * target), or undefined when nothing changed (presence, a replay, an unknown target).
   */
  apply(entry: Entry): MessageEntry | undefined {
    if (entry.type === 'message') return this.add(entry);
    if (!isAmendment(entry)) return undefined;
    const target = this.bySeq.get(entry.target);
    if (!target) {
      // A delete of a message not here (not yet, or forgotten) still blanks the replies quoting it.
      if (entry.type === 'delete') this.blankReplies(entry.target);
      if (this.orphans.push(entry) > MAX_ORPHANS) this.orphans.shift();
      return undefined;
    }
    if (entry.seq <= (target.folded ?? 0)) return undefined;
    return this.put(this.amend(target, entry));
  }

  private add(message: MessageEntry): MessageEntry | undefined {
    const known = this.bySeq.get(message.seq);
    if (known && (message.folded ?? 0) <= (known.folded ?? 0)) return undefined;
    let m = message;
    // A reply to a message we hold as deleted: it no longer quotes anything.
    if (m.reply && !m.reply.deleted && this.bySeq.get(m.reply.seq)?.deleted) m = { ...m, reply: { ...m.reply, text: '', deleted: true } };
    // Amendments that came before their message.
    const waiting = this.orphans.filter((a) => a.target === m.seq).sort((a, b) => a.seq - b.seq);
    if (waiting.length > 0) {
      for (let i = this.orphans.length - 1; i >= 0; i--) if (this.orphans[i]!.target === m.seq) this.orphans.splice(i, 1);
      for (const a of waiting) if (a.seq > (m.folded ?? 0)) m = this.amend(m, a);
    }
    if (!known && this.bySeq.size >= this.max) {
      const oldest = this.seqs[0]!;
      if (oldest > m.seq) return undefined;
      this.seqs.shift();
      this.bySeq.delete(oldest);
    }
    return this.put(m);
  }

  private put(m: MessageEntry): MessageEntry {
    if (!this.bySeq.has(m.seq)) this.seqs.splice(firstAbove(this.seqs, m.seq), 0, m.seq);
    this.bySeq.set(m.seq, m);
    if (m.deleted) this.blankReplies(m.seq);
    return m;
  }

  /** The message with one amendment folded in (a new object). */
  private amend(m: MessageEntry, a: AmendmentEntry): MessageEntry {
    const folded = a.seq;
    if (m.deleted) return { ...m, folded };
    switch (a.type) {
      case 'edit':
        return { ...m, text: a.text, edited: { seq: a.seq, ts: a.ts }, folded };
      case 'delete': {
        const { data: _data, event: _event, reply: _reply, reactions: _reactions, ...rest } = m;
        return { ...rest, text: '', deleted: true, folded };
      }
      case 'reaction': {
        const reactions = react(m.reactions ?? [], a.emoji, { member: a.from.member ?? a.from.id, name: a.from.name }, a.on);
        const { reactions: _old, ...rest } = m;
        return reactions.length > 0 ? { ...rest, reactions, folded } : { ...rest, folded };
      }
    }
  }

  private blankReplies(seq: number): void {
    for (const [s, m] of this.bySeq) {
      if (m.reply?.seq === seq && !m.reply.deleted) this.bySeq.set(s, { ...m, reply: { ...m.reply, text: '', deleted: true } });
    }
  }
}

/** The index of the first of the ascending `seqs` above `seq`, walking from the end (live messages come last). */
function firstAbove(seqs: number[], seq: number): number {
  let i = seqs.length;
  while (i > 0 && seqs[i - 1]! > seq) i--;
  return i;
}

function isAmendment(entry: Entry): entry is AmendmentEntry {
  return entry.type === 'edit' || entry.type === 'delete' || entry.type === 'reaction';
}

/** The reactions after `who` added (`on`) or took back an emoji. */
function react(list: ReactionSummary[], emoji: string, who: { member: string; name: string }, on: boolean): ReactionSummary[] {
  const i = list.findIndex((r) => r.emoji === emoji);
  const r = list[i];
  const listed = r?.by.some((b) => b.member === who.member) ?? false;
  if (on) {
    if (listed) return list;
    if (!r) return [...list, { emoji, count: 1, by: [who] }];
    const by = r.by.length < MAX_REACTORS ? [...r.by, who] : r.by;
    return list.map((x, j) => (j === i ? { emoji, count: r.count + 1, by } : x));
  }
  // Taking back one that is not listed is only counted when `by` is full (the member may be past it).
  if (!r || (!listed && r.by.length < MAX_REACTORS)) return list;
  if (r.count <= 1) return list.filter((_, j) => j !== i);
  return list.map((x, j) => (j === i ? { emoji, count: r.count - 1, by: r.by.filter((b) => b.member !== who.member) } : x));
}
