import { parseCursor } from '../../protocol/cursor.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Ack, PollResult, TransportName } from '../../protocol/types.js';
import { ConnectionError, type ClientError } from '../errors.js';
import { httpRequest, type HttpTarget } from '../http-request.js';
import { HttpPublisher } from './http-publisher.js';
import { httpTarget, identityOf, type Command, type Transport, type TransportEvents, type TransportSettings } from './transport.js';

/** Entries asked for per request. */
const PAGE = 100;
/** The wait before a poll refused RATE_LIMITED is asked again (the server's Retry-After is at least 1 s). */
const RATE_LIMITED_PAUSE_MS = 1000;
/** The longest an answer's entries wait for the presence list its `presenceAt` asked to read (TransportEvents.presenceStale). */
export const PRESENCE_WAIT_MS = 1000;

/**
 * What short and long polling share: a loop of GET requests, each asking for what follows the
 * cursor the previous answer returned, so nothing falls between two requests. Subclasses say
 * how the next request is made and when. Publishing and typing go over HTTP POST.
 *
 * Opening joins the room's presence (`POST /presence`: the member list, and a ticket each poll
 * carries to keep this client present), then makes one request that must answer at once; the
 * loop starts after both.
 */
export abstract class PollLoopTransport implements Transport {
  abstract readonly name: TransportName;
  abstract readonly quietMs: number;
  /** The client's, kept across transports and reconnections (TransportSettings.connectionId). */
  protected get connectionId(): string {
    return this.settings.connectionId;
  }
  protected readonly abort = new AbortController();
  protected readonly target: HttpTarget;
  private readonly publisher: HttpPublisher;
  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private cursor: string | undefined;
  /** The latest `presenceAt` of the answers (0: none yet): one that grows means the member list changed. */
  private presenceAt = 0;
  /** The read of the member list that a grown `presenceAt` asked for, while it runs. */
  private presenceRead: Promise<void> | undefined;
  /** The latest `typingAt` of the answers (0: none yet), given back with each long poll. */
  private typingAt = 0;
  private ticket: string | undefined;
  private loop: Promise<void> = Promise.resolve();
  private sleepTimer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;
  /** An ack of ours came since the last request started: the next one goes without a pause. */
  private askAgain = false;

  constructor(
    protected readonly settings: TransportSettings,
    private readonly events: TransportEvents,
  ) {
    this.target = httpTarget(settings, (e) => events.wire(e));
    this.publisher = new HttpPublisher(settings, this.target, this.connectionId, this.abort.signal);
  }

  /** The request that opens the transport: answers at once. */
  protected abstract first(cursor: string | undefined): Promise<PollResult>;
  /** The next request of the loop, after `cursor`. */
  protected abstract next(cursor: string): Promise<PollResult>;
  /** How long to wait before the next request, after an answer. */
  protected abstract pauseMs(result: PollResult): number;

  async open(cursor: string | undefined): Promise<void> {
    this.state = 'opening';
    try {
      const joined = await this.publisher.join(this.settings.openTimeoutMs);
      this.ticket = joined.session;
      const presence = joined.members;
      const identity = identityOf(joined);
      const result = await this.first(cursor);
      if (this.state !== 'opening') throw new ConnectionError('CLOSED', 'closed while opening');
      const firstSeq = result.entries[0]?.seq;
      this.events.subscribed({
        connectionId: this.connectionId,
        ...(identity ? { identity } : {}),
        epoch: result.epoch,
        // Where delivery starts: just before the first entry returned, else where the answer ends.
        seq: firstSeq !== undefined ? firstSeq - 1 : (parseCursor(result.cursor)?.seq ?? 0),
        ...(result.reset ? { reset: result.reset } : {}),
        presence,
        ...(joined.presenceTruncated === true ? { presenceTruncated: true } : {}),
      });
      this.state = 'open';
      // The list is the join's, as fresh as this answer: its entries do not wait for a read.
      this.notePresence(result);
      this.hand(result);
    } catch (err) {
      this.state = 'closed';
      this.abort.abort();
      throw err;
    }
    this.loop = this.run();
  }

  async send(command: Command, clientId: string): Promise<Ack> {
    const ack = await this.publisher.send(command, clientId);
    // The log has moved past our cursor (our own entry at least): the next poll goes at once,
    // not an interval later, so what was sent comes back on the stream at once; a poll in flight
    // may have been answered before it was stored, so the one after it goes at once too.
    this.askAgain = true;
    this.wake?.();
    return ack;
  }

  markRead(seq: number): Promise<number> {
    return this.publisher.markRead(seq);
  }

  typing(): void {
    this.publisher.typing();
  }

  probe(): boolean {
    // A sleeping short poll can be asked now; a held long poll is already asking.
    this.wake?.();
    return false;
  }

  pageHidden(): void {
    if (this.state === 'open' && this.ticket) this.publisher.leave(this.ticket, true);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.abort.abort();
    this.wake?.();
    if (this.ticket) this.publisher.leave(this.ticket);
    await this.loop;
  }

  /** `GET <route>?after=&limit=&session=[&timeout=][&presenceAt=&typingAt=]` (the presence ticket keeps us present). */
  protected request(route: 'poll' | 'longpoll', cursor: string | undefined, timeoutMs: number, extra: Record<string, number> = {}): Promise<PollResult> {
    return httpRequest<PollResult>(this.target, {
      method: 'GET',
      path: `/api/rooms/${encodeURIComponent(this.settings.room)}/${route}`,
      // A long poll says which presence and typing notices it knows of: one sent since is answered
      // at once (docs/protocol.md). 0 before any: the room's first notice may go out between the
      // opening answer (which had none) and this poll's hold, and would otherwise wake nothing of ours.
      query: { after: cursor, limit: PAGE, session: this.ticket, ...(route === 'longpoll' ? { presenceAt: this.presenceAt, typingAt: this.typingAt } : {}), ...extra },
      timeoutMs,
      signal: this.abort.signal,
    });
  }

  /**
   * Hands an answer of the loop on. The arrival a notice told of (in this answer or one before
   * it) is read before the entries are: a member who speaks as it arrives is seen arriving first,
   * as on a stream.
   */
  private async deliver(result: PollResult): Promise<void> {
    this.notePresence(result);
    if (this.presenceRead !== undefined && result.entries.length > 0) await waitAtMost(this.presenceRead, PRESENCE_WAIT_MS, this.abort.signal);
    this.hand(result);
  }

  /** Polls get no presence notices: an answer says when the room's latest one was sent; a later one than we knew has the list read. */
  private notePresence(result: PollResult): void {
    this.events.activity();
    if (typeof result.presenceAt === 'number' && result.presenceAt > this.presenceAt) {
      this.presenceAt = result.presenceAt;
      const read = this.events.presenceStale();
      if (read !== undefined) {
        this.presenceRead = read;
        void read.then(() => {
          if (this.presenceRead === read) this.presenceRead = undefined;
        });
      }
    }
  }

  private hand(result: PollResult): void {
    if (result.reset && this.cursor !== undefined) {
      // The cursor asked for means nothing any more: delivery restarts where the server says.
      const firstSeq = result.entries[0]?.seq;
      this.events.subscribed({ connectionId: this.connectionId, epoch: result.epoch, seq: firstSeq !== undefined ? firstSeq - 1 : (parseCursor(result.cursor)?.seq ?? 0), reset: result.reset });
    }
    for (const entry of result.entries) this.events.entry(entry, result.epoch);
    for (const from of result.typing) this.events.typing({ room: result.room, from });
    if (typeof result.typingAt === 'number' && result.typingAt > this.typingAt) this.typingAt = result.typingAt;
    this.cursor = result.cursor;
  }

  private async run(): Promise<void> {
    let pause = 0;
    while (this.state === 'open') {
      if (pause > 0) await this.sleep(pause);
      if (this.state !== 'open') return;
      let result: PollResult;
      this.askAgain = false;
      try {
        result = await this.next(this.cursor!);
      } catch (err) {
        if (this.state !== 'open') return;
        // Past a budget of the server (its --read-rate, when a big backlog comes 1 MiB an answer):
        // asked again a while later from the same cursor, the transport kept: nothing is lost.
        if (err instanceof SwitchboardError && err.code === 'RATE_LIMITED') {
          pause = RATE_LIMITED_PAUSE_MS;
          continue;
        }
        this.state = 'closed';
        this.abort.abort();
        this.events.lost(err as ClientError);
        return;
      }
      if (this.state !== 'open') return;
      await this.deliver(result);
      pause = result.more || this.askAgain ? 0 : this.pauseMs(result);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.sleepTimer);
        this.wake = undefined;
        resolve();
      };
      this.sleepTimer = setTimeout(() => this.wake?.(), ms);
    });
  }
}

/** Settles when `read` does, after `ms`, or once `signal` aborts (the transport closed), whichever comes first. */
function waitAtMost(read: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
    void read.then(done);
  });
}
