import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { SwitchboardError, type ErrorCode } from '../protocol/errors.js';

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Writes the catalog error body `{code, message, error}` with the code's HTTP status. */
export function sendError(res: ServerResponse, err: unknown, onInternal?: (err: unknown) => void): ErrorCode {
  const e = toSwitchboardError(err);
  if (e.code === 'INTERNAL') onInternal?.(err);
  const headers: Record<string, string> = {};
  if (e.code === 'RATE_LIMITED') headers['retry-after'] = '1';
  if (e.code === 'SHUTTING_DOWN' || e.code === 'TOO_MANY_CONNECTIONS' || e.code === 'STORE_UNAVAILABLE') headers['retry-after'] = '2';
  sendJson(res, e.status, e.toBody(), headers);
  return e.code;
}

export function toSwitchboardError(err: unknown): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  return new SwitchboardError('INTERNAL');
}

/**
 * Reads a JSON body: at most `limit` bytes (MESSAGE_TOO_LARGE past it, without reading the rest
 * into memory), valid UTF-8 (INVALID_UTF8), valid JSON (BAD_JSON). raw-body does the reading.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = await getRawBody(req, { limit, length: req.headers['content-length'] });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new SwitchboardError('MESSAGE_TOO_LARGE', `the body is over ${limit} bytes`);
    throw new SwitchboardError('BAD_REQUEST', (err as Error).message);
  }
  if (!isUtf8(raw)) throw new SwitchboardError('INVALID_UTF8');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new SwitchboardError('BAD_JSON');
  }
}

/** UTF-8 length of a string, without allocating a buffer. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Origin policy: same host is always allowed; otherwise the list decides ('*' allows all). */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.includes('*')) return true;
  if (allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The bearer token of a request: `Authorization: Bearer x` or `?token=x` (for EventSource and WebSocket, which cannot set headers). */
export function requestToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  return url.searchParams.get('token') ?? undefined;
}

/** Client address for rate limiting and logs. */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}
