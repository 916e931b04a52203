import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import { SwitchboardError, type ErrorCode } from '../protocol/errors.js';
import type { RetryableError } from './session/limits.js';

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
  const retry = retryAfter(e);
  if (retry !== undefined) headers['retry-after'] = String(retry);
  sendJson(res, e.status, e.toBody(), headers);
  return e.code;
}

/** Seconds a client should wait before trying again after `e`, when that is the point of the error. */
export function retryAfter(e: SwitchboardError): number | undefined {
  const given = (e as RetryableError).retryAfter;
  if (given !== undefined) return given;
  if (e.code === 'RATE_LIMITED' || e.code === 'TOO_MANY_CONNECTIONS_FROM_YOU') return 1;
  if (e.code === 'SHUTTING_DOWN' || e.code === 'TOO_MANY_CONNECTIONS' || e.code === 'STORE_UNAVAILABLE') return 2;
  return undefined;
}

export function toSwitchboardError(err: unknown): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  return new SwitchboardError('INTERNAL');
}

/**
 * Reads a JSON body: declared as JSON (UNSUPPORTED_MEDIA_TYPE otherwise: a cross-site form can
 * send text/plain without a CORS preflight, never application/json), at most `limit` bytes
 * (MESSAGE_TOO_LARGE past it, without reading the rest into memory), valid UTF-8 (INVALID_UTF8),
 * valid JSON (BAD_JSON). raw-body does the reading.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!isJsonType(req.headers['content-type'])) {
    throw new SwitchboardError('UNSUPPORTED_MEDIA_TYPE', `got ${JSON.stringify((req.headers['content-type'] ?? 'none').slice(0, 60))}: send Content-Type: application/json`);
  }
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

/** application/json, or any `+json` type, with any parameters. */
export function isJsonType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/** UTF-8 length of a string, without allocating a buffer. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

