import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TransportName, TypingNotice } from '../../protocol/types.js';
import type { Batch } from '../batch.js';
import type { Closable } from '../connection-registry.js';
import type { ServerContext } from '../context.js';
import { sseComment, sseEvent, sseRetry } from '../sse-writer.js';
import type { Subscriber } from '../subscriber.js';

/**
 * One open SSE response, subscribed to one room. The same class serves the native route
 * (`encode` = nativeSse, typing notices on) and the lecture's `/subscribe` (seedSse).
 * Keepalive comments every `sseKeepaliveMs` stop proxies from closing an idle stream.
 */
export class SseStream implements Subscriber, Closable {
  readonly transport: TransportName = 'sse';
  position = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly ctx: ServerContext,
    private readonly res: ServerResponse,
    private readonly format: string,
    private readonly encode: (batch: Batch) => Buffer,
    private readonly withTyping: boolean,
  ) {}

  /** Writes the headers and the reconnect hint, and starts the keepalive. */
  open(req: IncomingMessage, first = ''): void {
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx: do not buffer this response.
      'x-accel-buffering': 'no',
    });
    this.res.write(sseRetry(this.ctx.config.sseRetryMs) + first);
    this.keepalive = setInterval(() => this.write(sseComment('keepalive')), this.ctx.config.sseKeepaliveMs);
    this.keepalive.unref();
  }

  deliver(batch: Batch): void {
    const bytes = batch.encoded(this.format, this.encode);
    if (bytes.length > 0) this.write(bytes);
  }

  deliverTyping(_notice: TypingNotice, encoded: string): void {
    if (this.withTyping) this.write(sseEvent({ event: 'typing', data: encoded }));
  }

  deliverPresence(encoded: string): void {
    if (this.withTyping) this.write(sseEvent({ event: 'presence', data: encoded }));
  }

  /** Sends a named event outside the log (ready, error, shutdown). */
  event(event: string, data: unknown): void {
    this.write(sseEvent({ event, data: JSON.stringify(data) }));
  }

  historyReset(): void {
    this.event('error', { code: 'HISTORY_RESET', message: "The room's history was reset: reconnect with your Last-Event-ID" });
    this.end();
  }

  shutdown(): void {
    if (this.closed) return;
    this.event('shutdown', { code: 'SHUTTING_DOWN', message: 'The server is shutting down: reconnect elsewhere' });
    this.write(sseRetry(500));
    this.end();
  }

  destroy(): void {
    this.end();
    this.res.destroy();
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.res.end();
  }

  private write(chunk: string | Buffer): void {
    if (this.closed || this.res.destroyed) return;
    if (this.res.writableLength > this.ctx.config.maxBufferedBytes) {
      // Too slow to read: end the stream; the client resumes from its Last-Event-ID, losing nothing.
      this.ctx.metrics.errors.inc({ code: 'SLOW_CONSUMER' });
      this.res.write(sseEvent({ event: 'error', data: JSON.stringify({ code: 'SLOW_CONSUMER' }) }));
      this.end();
      return;
    }
    this.res.write(chunk);
  }
}
