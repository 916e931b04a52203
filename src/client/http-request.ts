import type { WireEvent } from './types.js';
import { deadline } from './deadline.js';
import { ConnectionError, errorFromResponse, networkReason } from './errors.js';
import { detailOf, summarize, utf8Length } from './ids.js';
import { apiUrl, displayPath } from './urls.js';

/** A wire event before the client stamps it with the time and the transport. */
export type WireInit = Omit<WireEvent, 'at' | 'transport'>;

/** Where HTTP requests go and how they are reported. */
export interface HttpTarget {
  base: URL;
  token: string | undefined;
  wire: (event: WireInit) => void;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** The whole exchange, answer body included, must be over within this. */
  timeoutMs: number;
  /** Aborts the request (transport closed): it then rejects with CLOSED. */
  signal?: AbortSignal;
  /** Sent even if the page goes away meanwhile (fetch's `keepalive`: a leave on `pagehide`). */
  keepalive?: boolean;
}

/**
 * One JSON request/answer over fetch. Resolves with the parsed answer (undefined for 204).
 * Rejects with the catalog SwitchboardError the server answered; ConnectionError UNREACHABLE
 * when nothing answered, TIMEOUT past `timeoutMs`, BLOCKED for an answer that is not
 * Switchboard's, CLOSED when `signal` aborted. Reports the exchange as one `http` wire event.
 */
export async function httpRequest<T>(target: HttpTarget, call: HttpCall): Promise<T> {
  const url = apiUrl(target.base, call.path, call.query);
  const what = `${call.method} ${url.pathname}`;
  const controller = new AbortController();
  let timedOut = false;
  const cancelDeadline = deadline(call.timeoutMs, () => {
    timedOut = true;
    controller.abort();
  });
  const onAbort = (): void => controller.abort();
  call.signal?.addEventListener('abort', onAbort);
  const started = Date.now();
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  let status = 0;
  let text = '';
  try {
    const res = await fetch(url, { method: call.method, headers, ...(payload !== undefined ? { body: payload } : {}), ...(call.keepalive ? { keepalive: true } : {}), signal: controller.signal });
    status = res.status;
    text = await res.text();
  } catch (err) {
    if (call.signal?.aborted) throw new ConnectionError('CLOSED', `${what}: aborted`);
    if (timedOut) throw new ConnectionError('TIMEOUT', `${what}: no answer within ${call.timeoutMs} ms`);
    if (status !== 0) throw new ConnectionError('CONNECTION_LOST', `${what}: the answer was cut (${networkReason(err)})`, { cause: err });
    throw new ConnectionError('UNREACHABLE', `cannot reach ${target.base.origin} (${networkReason(err)})`, { cause: err });
  } finally {
    cancelDeadline();
    call.signal?.removeEventListener('abort', onAbort);
  }
  const out = payload !== undefined;
  // What was sent and what came back are told apart: "201 {the body sent}" read as the answer.
  const answer = text ? `${status} ${text}` : `${status} no body`;
  target.wire({
    kind: 'http',
    direction: out ? 'out' : 'in',
    method: call.method,
    path: displayPath(url),
    status,
    bytes: out ? utf8Length(payload) : utf8Length(text),
    durationMs: Date.now() - started,
    summary: summarize(out ? `→ ${payload} ← ${answer}` : `${status} ${text}`),
    ...(out ? { requestSummary: summarize(payload) } : {}),
    responseSummary: summarize(text),
    responseBytes: utf8Length(text),
    detail: detailOf(`${call.method} ${displayPath(url)}${out ? `\n\n→ ${payload}` : ''}\n\n← ${text ? `${status}\n\n${text}` : `${status} (no body)`}`),
  });
  if (status < 200 || status > 299) throw errorFromResponse(status, text, what);
  if (status === 204 || text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ConnectionError('BLOCKED', `${what} answered something that is not JSON: not a Switchboard server?`);
  }
}
