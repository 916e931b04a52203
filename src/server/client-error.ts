import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { SwitchboardError, type ErrorCode } from '../protocol/errors.js';
import { afterAnswers } from './answer-close.js';
import { stopReading } from './http-util.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { COMMON_HEADERS } from './router.js';

/** The catalog error of a request node's HTTP parser refused (its `clientError`), with what it says. */
export function parserRefusal(err: NodeJS.ErrnoException): SwitchboardError {
  const code = err.code ?? '';
  const refusal: [ErrorCode, string] =
    code === 'HPE_HEADER_OVERFLOW'
      ? ['HEADERS_TOO_LARGE', '16 KiB in all']
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['REQUEST_TIMEOUT', '']
        : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? ['MESSAGE_TOO_LARGE', 'the chunk extensions are over the limit']
          : ['BAD_REQUEST', `not well-formed HTTP/1.1 (${code.replace(/[^A-Z0-9_]/g, '').slice(0, 40) || 'parse error'})`];
  return new SwitchboardError(...refusal);
}

/** A whole HTTP/1.1 answer, written by hand (node has no answer object for a request it could not parse): the catalog body, then the connection closes. */
export function rawErrorAnswer(e: SwitchboardError): string {
  const body = JSON.stringify(e.toBody());
  let head = `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}\r\n`;
  for (const name in COMMON_HEADERS) head += `${name}: ${COMMON_HEADERS[name]!}\r\n`;
  return `${head}content-type: application/json; charset=utf-8\r\ncache-control: no-store\r\ncontent-length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Answers a request node's parser refused (the server's `clientError`): with the catalog error,
 * after the answers still owed on the connection (pipelined before it), then closes the
 * connection. Nothing more of it is read meanwhile.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket, o: { metrics: Metrics; logger: Logger }): void {
  const e = parserRefusal(err);
  o.metrics.errors.inc({ code: e.code });
  o.logger.debug({ err: err.message, code: e.code }, 'client error');
  stopReading(socket);
  afterAnswers(socket, () => {
    if (socket.writable) socket.end(rawErrorAnswer(e));
    // The HTTP server is allowHalfOpen: end() alone leaves the socket open to a peer that ignores
    // the FIN and keeps sending (slowloris). Destroy it once the answer is out, as Node's default does.
    socket.destroySoon();
  });
}
