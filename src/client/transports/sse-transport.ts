import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { parseCursor } from '../../protocol/cursor.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Ack, Entry, SseReady, TypingNotice } from '../../protocol/types.js';
import { deadline } from '../deadline.js';
import { ConnectionError, errorFromBody, errorFromResponse, networkReason, type ClientError } from '../errors.js';
import { detailOf, summarize, utf8Length } from '../ids.js';
import { presenceNoticeOf } from '../presence-list.js';
import { apiUrl, displayPath } from '../urls.js';
import { HttpPublisher } from './http-publisher.js';
import { httpTarget, identityOf, receiptOf, type Command, type Transport, type TransportEvents, type TransportSettings } from './transport.js';

/** The server's keepalive comment interval (15 s) plus slack: the longest a healthy stream is quiet. */
const SSE_QUIET_MS = 20_000;

/**
 * Server-Sent Events read with fetch and a ReadableStream (not EventSource), so it runs the same
 * in Node 20 and browsers, sends `Last-Event-ID` and `Authorization` headers, and sees HTTP
 * statuses and error bodies. Publishing and typing go over HTTP POST.
 *
 * Open succeeds on the `ready` event. A stream whose headers or `ready` do not arrive within
 * `openTimeoutMs` is BLOCKED: a buffering proxy holds it back, and `auto` falls back.
 */
export class SseTransport implements Transport {
  readonly name = 'sse' as const;
  readonly quietMs = SSE_QUIET_MS;
  /** The client's, kept across transports and reconnections (TransportSettings.connectionId). */
  private get connectionId(): string {
    return this.settings.connectionId;
  }
  private readonly abort = new AbortController();
  private readonly publisher: HttpPublisher;
  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private epoch = '';
  private reading: Promise<void> = Promise.resolve();
  /** While opening: ends the open with an error (close() during open must settle it). */
  private abortOpen: ((err: ClientError) => void) | undefined;

  constructor(
    private readonly settings: TransportSettings,
    private readonly events: TransportEvents,
  ) {
    this.publisher = new HttpPublisher(settings, httpTarget(settings, (e) => events.wire(e)), this.connectionId, this.abort.signal);
  }

  async open(cursor: string | undefined): Promise<void> {
    this.state = 'opening';
    const { base, room, name, member, token, openTimeoutMs } = this.settings;
    const url = apiUrl(base, `/api/rooms/${encodeURIComponent(room)}/events`, { name, member, connection: this.connectionId });
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (cursor !== undefined) headers['last-event-id'] = cursor;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const started = Date.now();
    let ready!: () => void;
    let refuse!: (err: ClientError) => void;
    const readyPromise = new Promise<void>((resolve, reject) => {
      ready = resolve;
      refuse = reject;
    });
    this.abortOpen = refuse;
    let timedOut = false;
    const cancelDeadline = deadline(openTimeoutMs, () => {
      timedOut = true;
      refuse(new ConnectionError('BLOCKED', `no ready event within ${openTimeoutMs} ms: is a proxy buffering the event stream?`));
    });

    try {
      const response = await Promise.race([
        fetch(url, { headers, signal: this.abort.signal }).catch((err: unknown) => {
          if (this.abort.signal.aborted) throw new ConnectionError('CLOSED', 'closed while opening');
          throw new ConnectionError('UNREACHABLE', `cannot reach ${base.origin} (${networkReason(err)})`, { cause: err });
        }),
        readyPromise.then(() => undefined as never),
      ]);
      const path = displayPath(url);
      const contentType = response.headers.get('content-type') ?? '';
      if (!response.ok || !contentType.startsWith('text/event-stream') || !response.body) {
        const text = await response.text().catch(() => '');
        this.events.wire({ kind: 'http', direction: 'in', method: 'GET', path, status: response.status, bytes: utf8Length(text), durationMs: Date.now() - started, summary: summarize(`${response.status} ${text}`), responseSummary: summarize(text), responseBytes: utf8Length(text), detail: detailOf(`GET ${path}\n\n← ${response.status}\n\n${text}`) });
        throw response.ok ? new ConnectionError('BLOCKED', `GET ${url.pathname} answered ${contentType || 'no content type'}, not an event stream`) : errorFromResponse(response.status, text, `GET ${url.pathname}`);
      }
      this.events.wire({ kind: 'http', direction: 'in', method: 'GET', path, status: response.status, bytes: 0, durationMs: Date.now() - started, summary: `${response.status} event stream open` });
      this.reading = this.read(response.body, ready, refuse);
      await readyPromise;
      this.state = 'open';
    } catch (err) {
      this.state = 'closed';
      this.abort.abort();
      throw timedOut ? new ConnectionError('BLOCKED', `no ready event within ${openTimeoutMs} ms: is a proxy buffering the event stream?`) : err;
    } finally {
      cancelDeadline();
      this.abortOpen = undefined;
    }
  }

  send(command: Command, clientId: string): Promise<Ack> {
    return this.publisher.send(command, clientId);
  }

  markRead(seq: number): Promise<number> {
    return this.publisher.markRead(seq);
  }

  typing(): void {
    this.publisher.typing();
  }

  probe(): boolean {
    return false;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.abortOpen?.(new ConnectionError('CLOSED', 'closed while opening'));
    this.abort.abort();
    await this.reading;
  }

  private lose(err: ClientError): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.abort.abort();
    this.events.lost(err);
  }

  /** Reads the stream to its end, feeding the parser. Never rejects. */
  private async read(body: ReadableStream<Uint8Array>, ready: () => void, refuse: (err: ClientError) => void): Promise<void> {
    const fail = (err: ClientError): void => {
      if (this.state === 'opening') refuse(err);
      else this.lose(err);
    };
    const parser = createParser({
      onEvent: (event) => this.onEvent(event, ready, fail),
      onComment: (comment) => {
        this.events.activity();
        this.events.wire({ kind: 'heartbeat', direction: 'in', bytes: utf8Length(comment) + 3, summary: `:${comment}` });
      },
      onRetry: () => this.events.activity(),
    });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (this.state === 'closed') break;
      }
      fail(new ConnectionError('CONNECTION_LOST', 'the event stream ended'));
    } catch (err) {
      if (this.state !== 'closed') fail(new ConnectionError('CONNECTION_LOST', `the event stream broke (${networkReason(err)})`, { cause: err }));
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  private onEvent(event: EventSourceMessage, ready: () => void, fail: (err: ClientError) => void): void {
    if (this.state === 'closed') return;
    this.events.activity();
    const type = event.event ?? 'message';
    this.events.wire({ kind: 'sse', direction: 'in', bytes: utf8Length(event.data), ...(event.id !== undefined ? { id: event.id } : {}), summary: summarize(`${type} ${event.data}`), detail: detailOf(`${event.id !== undefined ? `id: ${event.id}\n` : ''}event: ${type}\ndata: ${event.data}`) });
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(event.data) as Record<string, unknown>;
    } catch {
      return;
    }
    switch (type) {
      case 'ready': {
        if (this.state !== 'opening') return;
        // Read as the protocol declares it (Partial: an older or other server may send less).
        const start = data as Partial<SseReady>;
        this.epoch = String(start.epoch);
        const identity = identityOf(data);
        this.events.subscribed({
          connectionId: typeof start.connectionId === 'string' ? start.connectionId : this.connectionId,
          ...(identity ? { identity } : {}),
          epoch: this.epoch,
          seq: parseCursor(String(start.cursor))?.seq ?? 0,
          ...(start.reset === 'epoch' || start.reset === 'expired' ? { reset: start.reset } : {}),
          presence: start.presence ?? [],
          ...(start.presenceTruncated === true ? { presenceTruncated: true } : {}),
        });
        ready();
        return;
      }
      case 'message':
      case 'join':
      case 'leave':
      case 'edit':
      case 'delete':
      case 'reaction': {
        // The id is the entry's cursor: it carries the epoch the entry belongs to.
        const epoch = event.id !== undefined ? (parseCursorSafe(event.id)?.epoch ?? this.epoch) : this.epoch;
        this.events.entry(data as unknown as Entry, epoch);
        return;
      }
      case 'typing':
        this.events.typing(data as unknown as TypingNotice);
        return;
      case 'receipt':
        if (this.state === 'open') this.events.receipt(receiptOf(data));
        return;
      case 'presence':
        {
          const notice = presenceNoticeOf(data);
          if (notice) this.events.presence(notice);
        }
        return;
      case 'shutdown':
        fail(new SwitchboardError('SHUTTING_DOWN'));
        return;
      case 'error':
        fail(errorFromBody({ message: '', ...data }) ?? new SwitchboardError('INTERNAL', summarize(event.data)));
        return;
    }
  }
}

function parseCursorSafe(text: string): { epoch?: string; seq: number } | undefined {
  try {
    return parseCursor(text);
  } catch {
    return undefined;
  }
}
