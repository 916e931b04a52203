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

/**
 * What a message shows on one line: its text; a message with data only shows `[event] {json}`
 * (compact JSON; `{json}` alone when it has no event name).
 */
export function messageLine(entry: MessageEntry): string {
  if (entry.text !== '' || entry.data === undefined) return entry.text;
  const json = JSON.stringify(entry.data);
  return entry.event === undefined ? json : `[${entry.event}] ${json}`;
}

/**
 * One line for a log entry: `12:00:01 ann: hello` for a message, `12:00:01 * ann joined` for
 * presence. `own` marks the reader's own messages (shown as `name (you)` in green).
 */
export function formatEntry(entry: Entry, p: Palette, own = false): string {
  const time = p.dim(clock(entry.ts));
  const name = entry.from.name;
  switch (entry.type) {
    case 'message':
      return own ? `${time} ${p.own(`${name} (you)`)}: ${messageLine(entry)}` : `${time} ${p.bold(p.name(name, name))}: ${messageLine(entry)}`;
    case 'join':
      return p.dim(`${clock(entry.ts)} * ${name} joined${entry.from.transport ? ` (${entry.from.transport})` : ''}`);
    case 'leave':
      return p.dim(`${clock(entry.ts)} * ${name} left`);
    default:
      return p.dim(`${clock(entry.ts)} * ${name}: ${entry.type} of #${entry.target}`);
  }
}
