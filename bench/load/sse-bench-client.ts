import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { BenchClient } from './bench-client.js';

/** A Server-Sent Events client (`GET /api/rooms/:room/events`), resuming with `Last-Event-ID`. */
export class SseBenchClient extends BenchClient {
  private req: http.ClientRequest | undefined;
  private lastId: string | undefined;

  protected open(after: string | undefined): void {
    const attempt = this.attempt;
    const { baseUrl, localAddress, name, member, room } = this.setup;
    const req = http.get(`${baseUrl}/api/rooms/${room}/events?name=${name}&member=${member}`, {
      agent: false,
      localAddress,
      headers: after !== undefined ? { 'last-event-id': after } : {},
    });
    this.req = req;
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        this.error(`HTTP ${res.statusCode}`);
        res.resume();
        res.on('end', () => this.down(attempt, `HTTP ${res.statusCode}`));
        return;
      }
      const parser = createParser({
        onEvent: (e) => {
          if (e.id !== undefined) this.lastId = e.id;
          if (e.event === 'presence') this.notice();
          else if (e.event === 'message') {
            const entry = JSON.parse(e.data) as { seq: number; text?: string };
            this.entry(attempt, entry.seq, entry.text);
          } else if (e.event === 'ready') {
            const ready = JSON.parse(e.data) as { cursor: string; reset?: string };
            this.lastId ??= ready.cursor;
            if (ready.reset) this.error(`reset ${ready.reset}`);
            this.up(attempt);
          } else if (e.event === 'error' || e.event === 'shutdown') {
            this.error(`event ${e.event}`);
          }
        },
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('close', () => this.down(attempt, 'stream ended'));
    });
    req.on('error', (err: NodeJS.ErrnoException) => this.down(attempt, err.code ?? err.message.slice(0, 60)));
  }

  protected cutConnection(): void {
    this.req?.destroy();
  }

  protected shut(): void {
    this.req?.destroy();
  }

  protected cursor(): string | undefined {
    return this.lastId;
  }
}
