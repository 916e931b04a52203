import { OutgoingMessage } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { SwitchboardError } from '../../protocol/errors.js';
import type { Codec } from '../codecs.js';
import { cutResponse, holdOpen, isHttp2, keepAliveHeaders, responseGone, writeBody, writeStalled, type HttpRequest, type HttpResponse } from '../http-util.js';
import type { Sink } from '../session/sink.js';
import { sseComment, sseEvent, sseRetry } from '../sse-writer.js';
import { SseKeepalive, type KeepaliveTarget } from './sse-keepalive.js';

/** The head of every SSE answer (a HEAD request's too). */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // nginx: do not buffer this response.
  'x-accel-buffering': 'no',
});

/**
 * One open SSE response as a session's sink. Writes the headers and the reconnect hint when
 * opened; keepalive comments every `keepaliveMs` (the first at most `keepaliveMs` after the open)
 * stop proxies from closing an idle stream.
 * Closing with an error sends it as a last `error` event (a shutdown also lowers `retry`).
 * Works alike over HTTP/1.x (a connection of its own) and HTTP/2 (one stream of a shared one).
 */
export class SseSink implements Sink, KeepaliveTarget {
  private ended = false;
  spreadSlot = -1;
  /** The head and the first events were written (`open`). */
  private opened = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly codec: Codec,
    private readonly keepaliveMs: number,
  ) {}

  open(req: HttpRequest, retryMs: number, first = ''): void {
    // HTTP/2: the socket is the connection's (the secure server turns Nagle off for all of them).
    if (!isHttp2(req)) req.socket.setNoDelay(true);
    holdOpen(req);
    this.res.writeHead(200, { ...SSE_HEADERS, ...keepAliveHeaders(req) });
    dropHeaderMap(this.res);
    writeBody(this.res, sseRetry(retryMs) + first);
    flattenHead(this.res);
    this.opened = true;
    SseKeepalive.of(this.keepaliveMs).add(this);
  }

  keepalive(): boolean {
    if (this.ended || responseGone(this.res)) return false;
    this.write(KEEPALIVE);
    return true;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  get stalled(): boolean {
    return writeStalled(this.res);
  }

  /**
   * A Buffer (a batch's events, the same object for every stream of the room) goes out over
   * HTTP/1.1 as one chunk built once for all streams (chunkOf), written straight to the socket:
   * one write per stream, where `res.write` makes four (size, CRLF, data, CRLF) corked until the
   * next tick, each one allocated per stream.
   */
  write(chunk: string | Buffer): void {
    if (this.ended || responseGone(this.res)) return;
    const socket = typeof chunk === 'string' || chunk.length === 0 ? undefined : this.directSocket();
    if (socket) socket.write(chunkOf(chunk as Buffer));
    else writeBody(this.res, chunk);
  }

  /**
   * The socket of an open HTTP/1.1 chunked answer when nothing of the answer waits in the
   * response's own buffer (an answer pipelined behind another one, not yet given the socket):
   * then a write to the socket comes after everything written before, as through `res.write`.
   */
  private directSocket(): Socket | undefined {
    const res = this.res;
    if (!this.opened || res instanceof Http2ServerResponse || !res.chunkedEncoding) return undefined;
    const socket = res.socket;
    // The response's writableLength is its own buffer plus the socket's.
    return socket && res.writableLength === socket.writableLength ? socket : undefined;
  }

  /**
   * Before `open`, closing leaves the response alone: the route answers it (an HTTP error). A
   * client that reads nothing more would never get a last event: its stream is cut instead (for
   * HTTP/2 that stream alone), rather than held open until a buffer that does not drain ends.
   */
  close(err?: SwitchboardError): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.res.headersSent) return;
    if (this.stalled || responseGone(this.res)) {
      this.destroy();
      return;
    }
    if (err?.code === 'SHUTTING_DOWN') {
      // Its own event name: clients reconnect at once (elsewhere), it is no failure.
      writeBody(this.res, sseEvent({ event: 'shutdown', data: JSON.stringify({ code: err.code, message: err.message }) }) + sseRetry(500));
    } else if (err) {
      writeBody(this.res, this.codec.error({ code: err.code, message: err.message }));
    }
    SseKeepalive.of(this.keepaliveMs).delete(this);
    this.res.end();
  }

  destroy(): void {
    this.ended = true;
    SseKeepalive.of(this.keepaliveMs).delete(this);
    cutResponse(this.res);
  }
}

/**
 * node keeps an HTTP/1.x answer's head (`_header`) for as long as the answer lives, as it built
 * it: a rope of some thirty concatenated pieces, about 1 KB per stream. Reading a character of it
 * makes V8 flatten the rope in place into one string of the head's length (some 300 bytes), and
 * the pieces become garbage.
 */
function flattenHead(res: HttpResponse): void {
  const head = (res as { _header?: unknown })._header;
  if (typeof head === 'string') head.charCodeAt(head.length - 1);
}

/**
 * The key under which node's HTTP/1.x answers keep the headers given to `setHeader` (and those
 * `writeHead` merged with them): undefined if a node version names it otherwise, and then the
 * map is simply kept.
 */
const kOutHeaders = Object.getOwnPropertySymbols(new OutgoingMessage()).find((s) => s.description === 'kOutHeaders');

/**
 * node keeps an HTTP/1.x answer's header map for as long as the answer lives, though once
 * `writeHead` has built the head (`_header`) only `getHeader` and its kin still read it (setting
 * or removing a header throws from then on): some 0.9 KB per stream (a dictionary of arrays),
 * as every answer gets the router's common headers with `setHeader`. After `writeHead` the map
 * goes back to null, its state before any `setHeader`: an open stream's headers read as absent.
 */
function dropHeaderMap(res: HttpResponse): void {
  if (kOutHeaders !== undefined && !(res instanceof Http2ServerResponse) && res.headersSent) (res as unknown as Record<symbol, unknown>)[kOutHeaders] = null;
}

/** The keepalive comment, a Buffer: over HTTP/1.1 its chunk is built once (chunkOf), as a batch's. */
const KEEPALIVE = Buffer.from(sseComment('keepalive'), 'utf8');

/** HTTP/1.1 chunks of encoded batches: made once per batch, whatever the number of streams it goes to. */
const chunks = new WeakMap<Buffer, Buffer>();
const CRLF = Buffer.from('\r\n', 'latin1');

/** `data` as one HTTP/1.1 chunk: its size in hex, CRLF, the data, CRLF. */
export function chunkOf(data: Buffer): Buffer {
  let chunk = chunks.get(data);
  if (chunk === undefined) {
    chunk = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF]);
    chunks.set(data, chunk);
  }
  return chunk;
}
