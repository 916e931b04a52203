import type { TransportName } from 'switchboard-client';
import { parseHex, readableLightness } from './contrast.js';

/** What users see for each transport (the Transport picker's choices). */
export const TRANSPORT_LABELS: Record<TransportName, string> = {
  websocket: 'WebSocket',
  sse: 'Server-Sent Events',
  'long-polling': 'Long polling',
  polling: 'Short polling',
};

/** Short forms for chips and narrow places. */
export const TRANSPORT_SHORT: Record<TransportName | 'http' | 'seed', string> = {
  websocket: 'WS',
  sse: 'SSE',
  'long-polling': 'Long poll',
  polling: 'Poll',
  http: 'HTTP',
  seed: 'Lecture',
};

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

/** 14:03 */
export function formatTime(ts: number): string {
  return timeFormat.format(ts);
}

/** Monday, 3 March 2025 at 14:03:12, for tooltips. */
export function formatFull(ts: number): string {
  return fullFormat.format(ts);
}

/** "Today", "Yesterday" or "Monday, March 3". */
export function formatDay(ts: number, now = Date.now()): string {
  const day = startOfDay(ts);
  const today = startOfDay(now);
  if (day === today) return 'Today';
  if (today - day <= 86_400_000 + 3_600_000 && today - day > 0) return 'Yesterday';
  return dayFormat.format(ts);
}

export function startOfDay(ts: number): number {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** 14:03:04.123, for the wire inspector. */
export function formatClock(ts: number): string {
  const d = new Date(ts);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** 812 B, 3.4 kB, 1.2 MB */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(bytes < 10_000 ? 1 : 0)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** 85 ms, 1.2 s, 25 s */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/** A stable hue (0-359) for a member id: avatars keep their colour everywhere. */
export function hueOf(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) | 0;
  return Math.abs(hash) % 360;
}

/**
 * How a name is drawn in each theme: its hue's colour at this saturation and lightness, made
 * darker (light theme) or lighter (dark theme) where the hue needs it to reach WCAG AA on the
 * backdrops a name sits on. The backdrops are styles.css's --other-bubble (a message) and --bg
 * (a deleted message has no bubble) of each theme; the e2e test "sender colours" measures the
 * real ones, so a change of those tokens that breaks the contrast fails it.
 */
const NAME_THEMES = {
  light: { saturation: 55, lightness: 38, backdrops: ['#ffffff', '#f6f7f9'].map(parseHex) },
  dark: { saturation: 75, lightness: 75, backdrops: ['#1d222c', '#0e1016'].map(parseHex) },
};

const nameStyles = new Map<number, string>();

/**
 * Inline custom properties for a sender's name (`--name-light`, `--name-dark`; styles.css picks
 * one per theme): readable in both, whatever the id. Computed once per hue (360 at most).
 */
export function nameColourStyle(id: string): string {
  const hue = hueOf(id);
  let style = nameStyles.get(hue);
  if (style === undefined) {
    const colour = ({ saturation, lightness, backdrops }: (typeof NAME_THEMES)['light']): string => `hsl(${hue} ${saturation}% ${readableLightness(hue, saturation, lightness, backdrops)}%)`;
    style = `--name-light:${colour(NAME_THEMES.light)};--name-dark:${colour(NAME_THEMES.dark)}`;
    nameStyles.set(hue, style);
  }
  return style;
}

/** First letter (a whole grapheme: emoji and Hangul syllables stay intact), upper-cased. */
export function initialOf(name: string): string {
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const first = segmenter.segment(name.trim())[Symbol.iterator]().next();
  return first.done ? '?' : first.value.segment.toLocaleUpperCase();
}
