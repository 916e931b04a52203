import { BenchClient, now } from './bench-client.js';
import { RawConnection, answerHead, type ByteSink } from './raw-connection.js';

interface PollResult {
  entries: { type: string; seq: number; text?: string }[];
  cursor: string;
  reset?: string;
}

/** How long a request may go unanswered (past a long poll's own timeout). */
const REQUEST_DEADLINE_MS = 10_000;

/**
 * One keep-alive HTTP/1.1 connection that sends GETs one at a time and reads `Content-Length`
 * answers, on a raw connection (RawConnection). A load process holds thousands of long pollers,
 * and every delivery to one is an answer and a new request: through node:http (a ClientRequest,
 * its URL and headers, an IncomingMessage stream per request) that cost the load generator about
 * 100 µs of CPU per delivery, more than the server spent answering, so on a 2-core machine the
 * load generator's own work stood between a broadcast and its measured latency. Here an answer
 * costs a search for the head's end and a JSON parse; what the server must answer (status, head,
 * a body of Content-Length bytes, keep-alive) is checked as strictly as node:http would.
 */
class PollConnection implements ByteSink {
  private connection: RawConnection | undefined;
  private pending: { onAnswer: (status: number, body: string) => void; onFail: (reason: string) => void } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly localAddress: string,
  ) {}

  /** Sends `GET path`; exactly one of the callbacks is called, unless `destroy` comes first. */
  get(path: string, onAnswer: (status: number, body: string) => void, onFail: (reason: string) => void): void {
    this.pending = { onAnswer, onFail };
    this.connection ??= new RawConnection(this.host, this.port, this.localAddress, this);
    this.connection.write(`GET ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nAccept: application/json\r\n\r\n`);
  }

  /** Drops the connection and the request in flight, if any (no callback). */
  destroy(): void {
    this.pending = undefined;
    this.connection?.destroy();
    this.connection = undefined;
  }

  bytes(data: Buffer): number {
    const head = answerHead(data);
    if (head === undefined) return 0;
    if (typeof head === 'string') {
      this.connection?.fail(head);
      return 0;
    }
    const length = /\r\ncontent-length: *(\d+)/i.exec(head.head);
    if (!length) {
      this.connection?.fail('no content-length');
      return 0;
    }
    const bodyEnd = head.bodyStart + Number(length[1]);
    if (data.length < bodyEnd) return 0;
    if (data.length > bodyEnd || this.pending === undefined) {
      this.connection?.fail('bytes after the answer');
      return 0;
    }
    const pending = this.pending;
    this.pending = undefined;
    if (/\r\nconnection: *close/i.test(head.head)) this.destroy();
    pending.onAnswer(head.status, data.toString('utf8', head.bodyStart, bodyEnd));
    return data.length;
  }

  gone(reason: string): void {
    const pending = this.pending;
    this.pending = undefined;
    this.connection = undefined;
    pending?.onFail(reason);
  }
}

/**
 * A long-polling client: a short poll for its start position, then long polls from its cursor,
 * one after the other, on its own keep-alive connection. It is up once its first poll was answered.
 */
export class LongPollBenchClient extends BenchClient {
  /** Short polling: every poll is answered at once; the next one follows after `pollIntervalMs`. */
  protected readonly short: boolean = false;
  private connection: PollConnection | undefined;
  private inFlight = false;
  /** The deadline of the request in flight. */
  private deadline: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private position: string | undefined;
  /** When the request in flight was sent. */
  private sentAt = 0;

  override state(): string {
    const age = this.inFlight ? `, request in flight for ${((now() - this.sentAt) / 1000).toFixed(1)} s` : '';
    return `${super.state()}${age}, cursor ${this.position}`;
  }

  protected open(after: string | undefined): void {
    const attempt = this.attempt;
    if (after !== undefined) this.position = after;
    this.poll(attempt, this.position === undefined ? 'poll' : 'longpoll');
  }

  private poll(attempt: number, kind: 'poll' | 'longpoll'): void {
    const { baseUrl, localAddress, room, longPollTimeoutMs } = this.setup;
    if (!this.connection) {
      const url = new URL(baseUrl);
      this.connection = new PollConnection(url.hostname, Number(url.port), localAddress);
    }
    const connection = this.connection;
    const query = `${this.position !== undefined ? `after=${this.position}&` : ''}timeout=${longPollTimeoutMs}`;
    this.sentAt = now();
    this.inFlight = true;
    // A deadline, as real clients have (the SDK's): a connection node:cluster was handing to a
    // worker that stopped may never be answered (docs/operations.md, "Workers"). Past it the
    // client is down and reconnects from its cursor.
    clearTimeout(this.deadline);
    const deadline = setTimeout(() => {
      this.inFlight = false;
      connection.destroy();
      this.down(attempt, 'timeout');
    }, (kind === 'longpoll' ? longPollTimeoutMs : 0) + REQUEST_DEADLINE_MS);
    this.deadline = deadline;
    connection.get(
      `/api/rooms/${room}/${kind}?${query}`,
      (status, body) => {
        clearTimeout(deadline);
        this.inFlight = false;
        if (attempt !== this.attempt) return;
        if (status !== 200) {
          this.down(attempt, `HTTP ${status}`);
          return;
        }
        const r = JSON.parse(body) as PollResult;
        if (r.reset) this.error(`reset ${r.reset}`);
        this.up(attempt);
        for (const e of r.entries) if (e.type === 'message') this.entry(attempt, e.seq, e.text);
        this.position = r.cursor;
        if (attempt !== this.attempt) return;
        if (this.short) this.timer = setTimeout(() => attempt === this.attempt && this.poll(attempt, 'poll'), this.setup.pollIntervalMs);
        // The next long poll after this turn's other answers are read: a process holds thousands of
        // clients, and starting each one's request before reading the next answer made the last
        // answers of a broadcast wait for this process, not for the server.
        else setImmediate(() => attempt === this.attempt && this.poll(attempt, 'longpoll'));
      },
      (reason) => {
        clearTimeout(deadline);
        this.inFlight = false;
        this.down(attempt, reason);
      },
    );
  }

  protected cutConnection(): void {
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.inFlight = false;
    this.connection?.destroy();
  }

  protected shut(): void {
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.inFlight = false;
    this.connection?.destroy();
  }

  protected cursor(): string | undefined {
    return this.position;
  }
}

/** A short-polling client: `GET .../poll` from its cursor every `pollIntervalMs`. */
export class ShortPollBenchClient extends LongPollBenchClient {
  protected override readonly short = true;
}
