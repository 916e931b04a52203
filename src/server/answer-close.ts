import type { ServerResponse } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import type { HttpResponse } from './http-util.js';

/** Told when its answer closes (sent, or its client gone): a held answer's slot and session. */
export interface AnswerCloser {
  /** The answer it waits for. */
  readonly res: HttpResponse;
  gone(): void;
}

/**
 * The answers of one HTTP/1.x connection not yet closed: how many (pipelining is capped on it),
 * and the closers of those that wait for their close (held long polls, SSE streams). One object
 * per connection, made at its first request.
 */
class ConnectionAnswers {
  open = 0;
  /** A request past the cap was refused: the connection closes after its answer, later requests are not run. */
  refused = false;
  /** Runs once no answer is open (afterAnswers). */
  idle: (() => void) | undefined = undefined;
  /** None, one (the usual: a connection holds one poll at a time), or several (pipelined). */
  closers: AnswerCloser | AnswerCloser[] | undefined = undefined;

  add(closer: AnswerCloser): void {
    const known = this.closers;
    if (known === undefined) this.closers = closer;
    else if (Array.isArray(known)) known.push(closer);
    else this.closers = [known, closer];
  }

  /** The closer of `res`, taken out; undefined when it has none. */
  take(res: HttpResponse): AnswerCloser | undefined {
    const known = this.closers;
    if (known === undefined) return undefined;
    if (!Array.isArray(known)) {
      if (known.res !== res) return undefined;
      this.closers = undefined;
      return known;
    }
    const i = known.findIndex((c) => c.res === res);
    if (i < 0) return undefined;
    const [closer] = known.splice(i, 1);
    if (known.length === 0) this.closers = undefined;
    return closer;
  }

  /** The connection closed: every answer still held on it is gone (node tells only the first of pipelined answers). */
  closeAll(): void {
    const known = this.closers;
    this.closers = undefined;
    if (known === undefined) return;
    if (!Array.isArray(known)) known.gone();
    else for (const closer of known) closer.gone();
  }
}

/** Each HTTP/1.x connection's answers (by its socket, which outlives its requests). */
const byConnection = new WeakMap<object, ConnectionAnswers>();

/**
 * Counts an HTTP/1.x answer as open on its connection until it closes (every answer of
 * Switchboard's, before its route runs); returns how many are open there now (the server refuses
 * too many pipelined ones), or Infinity once the connection refused one (refusePipelined). One
 * 'close' listener per answer, shared by all (no closure per answer), which also tells the
 * answer's closer (watchClose): a second listener would make an array of listeners per answer,
 * and a WeakMap entry per held answer cost an identity hash and an ephemeron per request, which
 * minor GCs then visit. When the connection closes, every held answer left on it is told (one
 * listener per connection).
 */
export function countAnswer(res: ServerResponse): number {
  const socket = res.req.socket;
  let answers = byConnection.get(socket);
  if (!answers) {
    byConnection.set(socket, (answers = new ConnectionAnswers()));
    // Pipelined answers waiting behind the first never emit 'close' when their connection goes:
    // without this, a client that pipelines long polls and hangs up would keep their slots.
    socket.once('close', connectionClosed);
  }
  answers.open++;
  res.on('close', closed);
  return answers.refused ? Infinity : answers.open;
}

/**
 * Marks the connection of a counted answer as refused (too many pipelined requests): true the
 * first time, when `res` is the one to answer with the refusal; false for the requests behind it,
 * which are not run (node never writes their answers: the refusal is the connection's last).
 */
export function refusePipelined(res: ServerResponse): boolean {
  const answers = byConnection.get(res.req.socket);
  if (!answers || answers.refused) return false;
  answers.refused = true;
  return true;
}

function closed(this: ServerResponse): void {
  const answers = byConnection.get(this.req.socket);
  if (!answers) return;
  answers.open--;
  answers.take(this)?.gone();
  if (answers.open === 0 && answers.idle !== undefined) {
    const idle = answers.idle;
    answers.idle = undefined;
    idle();
  }
}

function connectionClosed(this: object): void {
  const answers = byConnection.get(this);
  if (!answers) return;
  answers.idle = undefined;
  answers.closeAll();
}

/**
 * Runs `fn` once every answer counted on the HTTP/1.x connection of `socket` has closed (at once
 * when none is open): what is written to the socket then comes after them. Never when the
 * connection closes first.
 */
export function afterAnswers(socket: object, fn: () => void): void {
  const answers = byConnection.get(socket);
  if (answers === undefined || answers.open === 0) fn();
  else answers.idle = fn;
}

/** Answers that no connection's record counts (HTTP/2 streams: node tells each stream's close), by answer. */
const uncounted = new WeakMap<HttpResponse, AnswerCloser>();

function closedUncounted(this: HttpResponse): void {
  uncounted.get(this)?.gone();
}

/**
 * Calls `closer.gone()` once when its answer closes. The answer must not have closed yet (the
 * caller checks: a client may have gone while its request waited).
 */
export function watchClose(closer: AnswerCloser): void {
  const res = closer.res;
  // An HTTP/1.x answer of Switchboard's was counted (countAnswer) before its route ran.
  const answers = res instanceof Http2ServerResponse ? undefined : byConnection.get(res.req.socket);
  if (answers !== undefined && answers.open > 0) {
    answers.add(closer);
    return;
  }
  uncounted.set(res, closer);
  res.on('close', closedUncounted);
}
