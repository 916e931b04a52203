/**
 * Where a message's text holds code, as the web app shows it (web/src/message-format.ts) and the
 * server reads it (a `@name` in code mentions no one, as in Slack and Discord): fenced code
 * blocks (a line of three backticks, optionally a language word, the code, a line of three
 * backticks) and code spans (a run of backticks, up to the next run of exactly as many; one
 * space each side is padding, as CommonMark's). Pure, and in time proportional to the text:
 * fences are found by line, spans by run length.
 */

/** A stretch of a message's text: prose, a code span, or a fenced code block (with its language word, when one was given). */
export type CodeSegment = { kind: 'text'; text: string } | { kind: 'code'; text: string } | { kind: 'block'; text: string; lang?: string };

const FENCE_OPEN = /^```([\w+#.-]{1,32})?[ \t]*$/;
const FENCE_CLOSE = /^```[ \t]*$/;
const BACKTICKS = /`+/g;

/**
 * The text cut into prose, code spans and code blocks, in order. The line breaks next to a block
 * belong to it (the prose around it does not end or start with them); spans are looked for in
 * the prose between blocks, never across one.
 */
export function splitCode(text: string): CodeSegment[] {
  if (!text.includes('`')) return text === '' ? [] : [{ kind: 'text', text }];
  const lines = text.split('\n');
  // For each line, the first closing fence at or after it: each line is looked at a fixed number of times.
  const nextClose = new Int32Array(lines.length + 1).fill(-1);
  for (let i = lines.length - 1; i >= 0; i--) nextClose[i] = FENCE_CLOSE.test(lines[i] ?? '') ? i : (nextClose[i + 1] ?? -1);
  const segments: CodeSegment[] = [];
  let from = 0;
  const prose = (to: number): void => {
    if (to > from) segments.push(...splitSpans(lines.slice(from, to).join('\n')));
  };
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i] ?? '');
    const close = open ? (nextClose[i + 1] ?? -1) : -1;
    if (!open || close === -1) continue;
    prose(i);
    segments.push({ kind: 'block', text: lines.slice(i + 1, close).join('\n'), ...(open[1] !== undefined ? { lang: open[1] } : {}) });
    i = close;
    from = close + 1;
  }
  prose(lines.length);
  return segments;
}

/** The prose of a text, its code left out (a space where a span was, a line break where a block was): what a mention is looked for in. */
export function textOutsideCode(text: string): string {
  if (!text.includes('`')) return text;
  return splitCode(text)
    .map((s) => (s.kind === 'text' ? s.text : s.kind === 'code' ? ' ' : '\n'))
    .join('');
}

/**
 * A test of whether a message's text mentions someone: `@name` or `@member`, any case, not inside
 * a longer word (`mail@ann.example` is none) nor in code. One rule for the server's unread
 * `mentions` and the web app's notifications, so that a name with a space in it (`@Ann Lee`)
 * counts for both.
 */
export function mentionTest(name: string, member: string): (text: string) => boolean {
  const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}_])@(?:${esc(name)}|${esc(member)})(?![\\p{L}\\p{N}_])`, 'iu');
  return (text) => text.includes('@') && pattern.test(textOutsideCode(text));
}

/** Prose and code spans: a run of backticks, up to the next run of exactly as many. */
function splitSpans(text: string): CodeSegment[] {
  const runs = [...text.matchAll(BACKTICKS)].map((m) => ({ start: m.index, length: m[0].length }));
  const next = new Array<number>(runs.length).fill(-1);
  const seen = new Map<number, number>();
  for (let i = runs.length - 1; i >= 0; i--) {
    const run = runs[i];
    if (run === undefined) continue;
    next[i] = seen.get(run.length) ?? -1;
    seen.set(run.length, i);
  }
  const segments: CodeSegment[] = [];
  let at = 0;
  for (let i = 0; i < runs.length; i++) {
    const open = runs[i];
    const closeAt = next[i] ?? -1;
    const close = runs[closeAt];
    if (open === undefined || close === undefined) continue;
    let code = text.slice(open.start + open.length, close.start);
    // As CommonMark: one space each side is padding (so that `` `x` `` can show its backticks).
    if (code.length >= 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
    if (code === '') continue;
    if (open.start > at) segments.push({ kind: 'text', text: text.slice(at, open.start) });
    segments.push({ kind: 'code', text: code });
    at = close.start + close.length;
    i = closeAt;
  }
  if (at < text.length) segments.push({ kind: 'text', text: text.slice(at) });
  return segments;
}
