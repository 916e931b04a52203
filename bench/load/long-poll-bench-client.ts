import http from 'node:http';
import { BenchClient, now } from './bench-client.js';

interface PollResult {
  entries: { type: string; seq: number; text?: string }[];
  cursor: string;
  reset?: string;
}

/** How long a request may go unanswered (past a long poll's own timeout). */
const REQUEST_DEADLINE_MS = 10_000;

/** Keep-alive sockets shared by every long-polling client of the process (one held request each). */
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 100_000 });

/**
 * A long-polling client: a short poll for its start position, then long polls from its cursor,
 * one after the other. It is up once its first poll was answered.
 */
export class LongPollBenchClient extends BenchClient {
  /** Short polling: every poll is answered at once; the next one follows after `pollIntervalMs`. */
  protected readonly short: boolean = false;
  private req: http.ClientRequest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private position: string | undefined;
  /** When the request in flight was sent, and whether its answer's head arrived. */
  private sentAt = 0;
  private answered = false;

  override state(): string {
    const age = this.req && !this.req.destroyed ? `, request in flight for ${((now() - this.sentAt) / 1000).toFixed(1)} s${this.answered ? ' (head arrived)' : ''}` : '';
    return `${super.state()}${age}, cursor ${this.position}`;
  }

  protected open(after: string | undefined): void {
    const attempt = this.attempt;
    if (after !== undefined) this.position = after;
    this.poll(attempt, this.position === undefined ? 'poll' : 'longpoll');
  }

  private poll(attempt: number, kind: 'poll' | 'longpoll'): void {
    const { baseUrl, localAddress, room, longPollTimeoutMs } = this.setup;
    const query = `${this.position !== undefined ? `after=${this.position}&` : ''}timeout=${longPollTimeoutMs}`;
    const req = http.get(`${baseUrl}/api/rooms/${room}/${kind}?${query}`, { agent, localAddress });
    this.req = req;
    this.sentAt = now();
    this.answered = false;
    // A deadline, as real clients have (the SDK's): a connection node:cluster was handing to a
    // worker that stopped may never be answered (docs/operations.md, "Workers"). Past it the
    // client is down and reconnects from its cursor.
    const deadline = setTimeout(() => {
      this.down(attempt, 'timeout');
      req.destroy();
    }, (kind === 'longpoll' ? longPollTimeoutMs : 0) + REQUEST_DEADLINE_MS);
    req.on('close', () => clearTimeout(deadline));
    req.on('response', (res) => {
      this.answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(deadline);
        if (attempt !== this.attempt) return;
        if (res.statusCode !== 200) {
          this.down(attempt, `HTTP ${res.statusCode}`);
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
        // clients, and starting each one's request (some 50 µs) before reading the next answer made
        // the last answers of a broadcast wait for this process, not for the server.
        else setImmediate(() => attempt === this.attempt && this.poll(attempt, 'longpoll'));
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => this.down(attempt, err.code ?? err.message.slice(0, 60)));
  }

  protected cutConnection(): void {
    clearTimeout(this.timer);
    this.req?.destroy();
  }

  protected shut(): void {
    clearTimeout(this.timer);
    this.req?.destroy();
  }

  protected cursor(): string | undefined {
    return this.position;
  }
}

/** A short-polling client: `GET .../poll` from its cursor every `pollIntervalMs`. */
export class ShortPollBenchClient extends LongPollBenchClient {
  protected override readonly short = true;
}
