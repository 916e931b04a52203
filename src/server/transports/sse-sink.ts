import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SwitchboardError } from '../../protocol/errors.js';
import type { Codec } from '../codecs.js';
import type { Sink } from '../session/sink.js';
import { sseComment, sseEvent, sseRetry } from '../sse-writer.js';

/**
 * One open SSE response as a session's sink. Writes the headers and the reconnect hint when
 * opened; keepalive comments every `keepaliveMs` stop proxies from closing an idle stream.
 * Closing with an error sends it as a last `error` event (a shutdown also lowers `retry`).
 */
export class SseSink implements Sink {
  private keepalive: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly codec: Codec,
    private readonly keepaliveMs: number,
  ) {}

  open(req: IncomingMessage, retryMs: number, first = ''): void {
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx: do not buffer this response.
      'x-accel-buffering': 'no',
    });
    this.res.write(sseRetry(retryMs) + first);
    this.keepalive = setInterval(() => this.write(sseComment('keepalive')), this.keepaliveMs);
    this.keepalive.unref();
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  get stalled(): boolean {
    return this.res.socket?.writableNeedDrain ?? false;
  }

  write(chunk: string | Buffer): void {
    if (this.ended || this.res.destroyed) return;
    this.res.write(chunk);
  }

  /** Before `open`, closing leaves the response alone: the route answers it (an HTTP error). */
  close(err?: SwitchboardError): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.res.headersSent) return;
    if (err?.code === 'SHUTTING_DOWN') {
      // Its own event name: clients reconnect at once (elsewhere), it is no failure.
      this.res.write(sseEvent({ event: 'shutdown', data: JSON.stringify({ code: err.code, message: err.message }) }) + sseRetry(500));
    } else if (err && !this.res.destroyed) {
      this.res.write(this.codec.error({ code: err.code, message: err.message }));
    }
    clearInterval(this.keepalive);
    this.res.end();
  }

  destroy(): void {
    this.ended = true;
    clearInterval(this.keepalive);
    this.res.destroy();
  }
}
