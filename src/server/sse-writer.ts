/**
 * Server-Sent Events formatting (WHATWG HTML, "server-sent events"). A field value may not hold
 * CR or LF: `id` and `event` refuse them, `data` is split into one `data:` line per line.
 */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

function field(name: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`SSE ${name} may not contain CR or LF`);
  return `${name}: ${value}\n`;
}

export function sseEvent(e: SseEvent): string {
  let out = '';
  if (e.id !== undefined) out += field('id', e.id);
  if (e.event !== undefined) out += field('event', e.event);
  for (const line of e.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}

export function sseComment(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}

export function sseRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}
