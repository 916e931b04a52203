import { isUtf8 } from 'node:buffer';
import { BenchClient } from './bench-client.js';
import { headerOf, openStream, type RawConnection } from './raw-connection.js';

/** An event of a stream: its type (`message` when the stream named none), its data, its id if it had one. */
export interface SseEventRead {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * The body of an SSE answer (after its head), chunked or not, as events, by the rules of the
 * WHATWG's event stream: lines end with LF, CRLF or CR; `:` starts a comment; `data` lines of one
 * event join with LF; an event with no data line is not dispatched (its `id` still counts).
 * `bytes` takes what came and returns what it used, as a ByteSink does; the end of a chunked
 * body or a framing error is reported through `ended`.
 */
export class SseBodyParser {
  /** Text of the stream not yet ending in a blank line. */
  private text = '';
  /** The last text ended with a CR. */
  private afterCr = false;
  /** The body ended, or broke its framing: nothing more is read. */
  private over = false;
  /** For a body that is not chunked only (made then: each one holds an ICU converter, some 0.7 KB of RSS). */
  private decoder: TextDecoder | undefined;

  constructor(
    private readonly chunked: boolean,
    private readonly onEvent: (e: SseEventRead) => void,
    private readonly onEnd: (reason: string) => void,
  ) {}

  private ended(reason: string): void {
    if (this.over) return;
    this.over = true;
    this.onEnd(reason);
  }

  bytes(data: Buffer, from = 0): number {
    if (this.over) return data.length;
    if (!this.chunked) {
      try {
        this.events((this.decoder ??= new TextDecoder('utf-8', { fatal: true })).decode(data.subarray(from), { stream: true }));
      } catch {
        this.ended('not UTF-8');
      }
      return data.length;
    }
    let pos = from;
    for (;;) {
      const lineEnd = data.indexOf(CRLF, pos);
      if (lineEnd < 0) {
        if (data.length - pos > 32) this.ended('bad chunk size line');
        return pos;
      }
      const sizeText = data.toString('latin1', pos, lineEnd);
      // A chunk extension (`;name=value`) may follow the size.
      const size = /^[0-9a-fA-F]{1,8}(?=;|$)/.exec(sizeText);
      if (!size) {
        this.ended('bad chunk size line');
        return pos;
      }
      const length = parseInt(size[0], 16);
      const start = lineEnd + 2;
      if (length === 0) {
        this.ended('stream ended');
        return data.length;
      }
      if (data.length < start + length + 2) return pos;
      if (data[start + length] !== 13 || data[start + length + 1] !== 10) {
        this.ended('chunk without its CRLF');
        return pos;
      }
      // The server writes whole strings as chunks: a chunk is whole characters.
      if (!isUtf8(data.subarray(start, start + length))) {
        this.ended('a chunk that is not UTF-8');
        return pos;
      }
      this.events(data.toString('utf8', start, start + length));
      pos = start + length + 2;
    }
  }

  private events(text: string): void {
    // CRLF and CR end lines too. A CR that ended the last text ended its line: an LF right after
    // it belongs to it.
    if (this.afterCr && text.charCodeAt(0) === 10) text = text.slice(1);
    this.afterCr = text.charCodeAt(text.length - 1) === 13;
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    this.text = this.text.length === 0 ? text : this.text + text;
    let from = 0;
    for (;;) {
      const end = this.text.indexOf('\n\n', from);
      if (end < 0) break;
      this.dispatch(this.text.slice(from, end));
      from = end + 2;
    }
    if (from > 0) this.text = this.text.slice(from);
  }

  private dispatch(block: string): void {
    let event = 'message';
    let data: string | undefined;
    let id: string | undefined;
    for (const line of block.split('\n')) {
      if (line.length === 0 || line.charCodeAt(0) === 58 /* : */) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (name === 'data') data = data === undefined ? value : `${data}\n${value}`;
      else if (name === 'event') event = value;
      else if (name === 'id' && !value.includes('\0')) id = value;
    }
    if (data !== undefined) this.onEvent({ event, data, id });
    else if (id !== undefined) this.onEvent({ event: '', data: '', id });
  }
}

const CRLF = Buffer.from('\r\n');

/**
 * A Server-Sent Events client (`GET /api/rooms/:room/events`), resuming with `Last-Event-ID`, on
 * a raw connection (RawConnection) with its own strict reading of the answer: status 200,
 * `text/event-stream`, the chunked body and the event stream.
 */
export class SseBenchClient extends BenchClient {
  private connection: RawConnection | undefined;
  private lastId: string | undefined;

  protected open(after: string | undefined): void {
    const attempt = this.attempt;
    const { baseUrl, localAddress, name, member, room } = this.setup;
    this.connection = openStream({
      baseUrl,
      localAddress,
      target: `/api/rooms/${room}/events?name=${name}&member=${member}`,
      headers: `Accept: text/event-stream\r\n${after !== undefined ? `Last-Event-ID: ${after}\r\n` : ''}Connection: close\r\n`,
      status: 200,
      refused: (status) => {
        this.error(`HTTP ${status}`);
        return `HTTP ${status}`;
      },
      begin: (head, connection) => {
        if (!headerOf(head.head, 'content-type')?.startsWith('text/event-stream')) return 'not text/event-stream';
        const body = new SseBodyParser(/^chunked$/i.test(headerOf(head.head, 'transfer-encoding') ?? ''), (e) => this.onEvent(attempt, e), (reason) => connection.fail(reason));
        return (data, from) => body.bytes(data, from);
      },
      gone: (reason) => this.down(attempt, reason === 'ECONNRESET' ? 'stream ended' : reason),
    });
  }

  private onEvent(attempt: number, e: SseEventRead): void {
    if (attempt !== this.attempt) return;
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
  }

  protected cutConnection(): void {
    this.connection?.destroy();
  }

  protected shut(): void {
    this.connection?.destroy();
  }

  protected cursor(): string | undefined {
    return this.lastId;
  }
}
