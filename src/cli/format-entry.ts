import type { Entry, MessageEntry } from '../protocol/types.js';

/** ANSI styles, or none: colours only on a terminal, and never when NO_COLOR is set (no-color.org). */
export interface Palette {
  dim(text: string): string;
  bold(text: string): string;
  own(text: string): string;
  name(text: string, key: string): string;
  error(text: string): string;
}

const NAME_COLOURS = [36, 35, 33, 34, 91, 96, 95, 93];

export function palette(enabled: boolean): Palette {
  const sgr = (code: number | string, text: string): string => (enabled ? `\u001b[${code}m${text}\u001b[0m` : text);
  return {
    dim: (t) => sgr(2, t),
    bold: (t) => sgr(1, t),
    own: (t) => sgr(32, t),
    // The same name always gets the same colour, run after run.
    name: (t, key) => sgr(NAME_COLOURS[[...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % NAME_COLOURS.length]!, t),
    error: (t) => sgr(31, t),
  };
}

/** True when stdout is a terminal and colours are not turned off. */
export function colourWanted(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/** `HH:MM:SS` in local time. */
export function clock(ts: number): string {
  const d = new Date(ts);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** Quotes and search results show at most this many characters of a text. */
const QUOTE_CHARS = 60;

/**
 * What a message shows on one line: its text; a message with data only shows `[event] {json}`
 * (compact JSON; `{json}` alone when it has no event name). Folded state (history, search):
 * `[message deleted]` for a deleted one, ` (edited)` after an edited one, and its reactions
 * after two spaces (`  👍 2 ❤️ 1`).
 */
export function messageLine(entry: MessageEntry): string {
  if (entry.deleted) return `[message deleted]${reactionsSuffix(entry)}`;
  let text = entry.text;
  if (text === '' && entry.data !== undefined) {
    const json = JSON.stringify(entry.data);
    text = entry.event === undefined ? json : `[${entry.event}] ${json}`;
  }
  return `${text}${entry.edited ? ' (edited)' : ''}${reactionsSuffix(entry)}`;
}

function reactionsSuffix(entry: MessageEntry): string {
  return entry.reactions?.length ? `  ${entry.reactions.map((r) => `${r.emoji} ${r.count}`).join(' ')}` : '';
}

/** `[re #12 ann: "the quoted text"] `, or `[re #12: message deleted] `, for a reply. */
function quote(entry: MessageEntry): string {
  const r = entry.reply;
  if (!r) return entry.replyTo !== undefined ? `[re #${entry.replyTo}] ` : '';
  if (r.deleted) return `[re #${r.seq}: message deleted] `;
  return `[re #${r.seq} ${r.from.name}: "${shorten(r.text)}"] `;
}

/** At most QUOTE_CHARS characters on one line (newlines as spaces), `…` when cut. */
export function shorten(text: string, max = QUOTE_CHARS): string {
  const flat = text.replace(/\s+/g, ' ');
  const chars = [...flat];
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * One line for a log entry: `12:00:01 #12 ann: hello` for a message (its seq, so people can
 * refer to it; a reply starts with its quote), `12:00:01 * ann joined` for presence,
 * `12:00:05 * ann edited #12: new text`, `* ann deleted #12`, `* bob reacted 👍 to #12` and
 * `* bob took back 👍 from #12` for amendments. `own` marks the reader's own messages (shown as
 * `name (you)` in green).
 */
export function formatEntry(entry: Entry, p: Palette, own = false): string {
  const time = p.dim(clock(entry.ts));
  const name = entry.from.name;
  const at = clock(entry.ts);
  switch (entry.type) {
    case 'message': {
      const who = own ? p.own(`${name} (you)`) : p.bold(p.name(name, name));
      const body = `${quote(entry)}${messageLine(entry)}`;
      return `${time} ${p.dim(`#${entry.seq}`)} ${who}: ${entry.deleted ? p.dim(body) : body}`;
    }
    case 'join':
      return p.dim(`${at} * ${name} joined${entry.from.transport ? ` (${entry.from.transport})` : ''}`);
    case 'leave':
      return p.dim(`${at} * ${name} left`);
    case 'edit':
      return p.dim(`${at} * ${name} edited #${entry.target}: `) + (entry.text === '' ? p.dim('[erased]') : entry.text);
    case 'delete':
      return p.dim(`${at} * ${name} deleted #${entry.target}`);
    case 'reaction':
      return p.dim(`${at} * ${name} ${entry.on ? `reacted ${entry.emoji} to` : `took back ${entry.emoji} from`} #${entry.target}`);
  }
}
