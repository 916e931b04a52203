import { SwitchboardError } from '../../protocol/errors.js';
import type { AmendmentDraft, AmendmentEntry, Entry, EntryDraft, MessageEntry, ReactionSummary, ReplyPreview } from '../../protocol/types.js';

/**
 * How amendments fold into the message they target, the same for every store (the Redis store
 * does the same in JS around its scripts). Entries are never changed in place: a fold makes a new
 * message object, so an entry already handed out (a broadcast, a cached answer) stays as it was.
 */

/** Most distinct emoji on one message (REACTION_LIMIT past it). */
export const MAX_REACTION_EMOJI = 20;
/** Reactors listed per emoji in a ReactionSummary (`count` stays exact). */
export const MAX_REACTORS_LISTED = 50;
/** Characters (code points) of a message's text a reply preview quotes. */
export const REPLY_PREVIEW_CHARS = 200;

/** One member's reaction, in the order reactions came. */
export interface Reactor {
  member: string;
  name: string;
}

/** Reactors of one message: emoji → reactors, oldest first, emoji in order of first reaction. */
export type Reactors = Map<string, Reactor[]>;

export function isAmendment(draft: EntryDraft | Entry): draft is AmendmentDraft | AmendmentEntry {
  return draft.type === 'edit' || draft.type === 'delete' || draft.type === 'reaction';
}

/** The message an amendment or reply may target: MESSAGE_NOT_FOUND (missing, not a message), MESSAGE_DELETED. */
export function checkTarget(entry: Entry | undefined, seq: number): MessageEntry {
  if (!entry || entry.type !== 'message') throw new SwitchboardError('MESSAGE_NOT_FOUND', `#${seq}`);
  if (entry.deleted) throw new SwitchboardError('MESSAGE_DELETED', `#${seq}`);
  return entry;
}

/** What a reply quotes of `target`: its first REPLY_PREVIEW_CHARS code points. */
export function replyPreview(target: MessageEntry): ReplyPreview {
  const chars = [...target.text];
  const text = chars.length > REPLY_PREVIEW_CHARS ? chars.slice(0, REPLY_PREVIEW_CHARS).join('') : target.text;
  return { seq: target.seq, from: { name: target.from.name, ...(target.from.member !== undefined ? { member: target.from.member } : {}) }, text };
}

/** A reply's preview once the message it quotes was deleted. */
export function erasedPreview(preview: ReplyPreview): ReplyPreview {
  return { seq: preview.seq, from: preview.from, text: '', deleted: true };
}

/** The summaries of `reactors` (absent when none). */
export function summarize(reactors: Reactors | undefined): ReactionSummary[] | undefined {
  if (!reactors) return undefined;
  const out: ReactionSummary[] = [];
  for (const [emoji, list] of reactors) {
    if (list.length > 0) out.push({ emoji, count: list.length, by: list.slice(0, MAX_REACTORS_LISTED).map((r) => ({ member: r.member, name: r.name })) });
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Resolves a reaction against the message's reactors, changing `reactors`: `on` as given, or the
 * toggle of `member`'s reaction. REACTION_LIMIT when it would add a 21st emoji. Returns `on`.
 */
export function applyReaction(reactors: Reactors, emoji: string, member: string, name: string, on: boolean | undefined): boolean {
  const list = reactors.get(emoji);
  const has = list?.some((r) => r.member === member) ?? false;
  const resolved = on ?? !has;
  if (resolved && !has) {
    if (!list) {
      let distinct = 0;
      for (const l of reactors.values()) if (l.length > 0) distinct++;
      if (distinct >= MAX_REACTION_EMOJI) throw new SwitchboardError('REACTION_LIMIT', `at most ${MAX_REACTION_EMOJI} different reactions`);
      reactors.set(emoji, [{ member, name }]);
    } else list.push({ member, name });
  } else if (!resolved && has) {
    const rest = list!.filter((r) => r.member !== member);
    if (rest.length > 0) reactors.set(emoji, rest);
    else reactors.delete(emoji);
  }
  return resolved;
}

/** The message with `amendment` folded in (a new object). `reactions`: the summaries after a reaction. */
export function foldMessage(message: MessageEntry, amendment: AmendmentEntry, reactions?: ReactionSummary[]): MessageEntry {
  if (amendment.type === 'delete') return erasedMessage(message, amendment.seq);
  const next: MessageEntry = { ...message, folded: amendment.seq };
  if (amendment.type === 'edit') {
    next.text = amendment.text;
    next.edited = { seq: amendment.seq, ts: amendment.ts };
  } else if (reactions) next.reactions = reactions;
  else delete next.reactions;
  return next;
}

/** A deleted message: no text, data, event, reply preview or reactions; `deleted` and `folded` set. */
export function erasedMessage(message: MessageEntry, folded: number): MessageEntry {
  const { data: _data, event: _event, reply: _reply, reactions: _reactions, edited: _edited, ...rest } = message;
  const next: MessageEntry = { ...rest, text: '', deleted: true, folded };
  if (message.edited) next.edited = message.edited;
  return next;
}

/** The amendment entry of a draft (`on` resolved for a reaction). */
export function amendmentEntry(draft: AmendmentDraft, seq: number, ts: number, on: boolean): AmendmentEntry {
  const base = { room: draft.room, seq, ts, from: draft.from, target: draft.target, ...(draft.clientId !== undefined ? { clientId: draft.clientId } : {}) };
  if (draft.type === 'edit') return { type: 'edit', ...base, text: draft.text };
  if (draft.type === 'delete') return { type: 'delete', ...base };
  return { type: 'reaction', ...base, emoji: draft.emoji, on };
}

/** The words of a search query or a text: letters and digits, lower case, without diacritics. */
export function searchWords(text: string): string[] {
  return text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** True when every query word is a prefix of a word of `text`. */
export function textMatches(text: string, words: readonly string[]): boolean {
  if (words.length === 0) return false;
  const own = searchWords(text);
  return words.every((w) => own.some((o) => o.startsWith(w)));
}

/** True when `message` matches a search (a deleted message never does). */
export function messageMatches(entry: Entry, words: readonly string[]): entry is MessageEntry {
  return entry.type === 'message' && !entry.deleted && textMatches(entry.text, words);
}
