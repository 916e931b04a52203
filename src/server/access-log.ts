import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './logger.js';

/** What a request's handshake learnt, for its access-log line. */
interface Who {
  member: string;
  transport: string;
}

const who = new WeakMap<IncomingMessage, Who>();

/** Notes who made a request (called by the handshake), so its access-log line names them. */
export function noteWho(req: IncomingMessage, member: string, transport?: string): void {
  who.set(req, { member, transport: transport ?? who.get(req)?.transport ?? 'http' });
}

/** Notes the transport of a request (called by the route). */
export function noteTransport(req: IncomingMessage, transport: string): void {
  const known = who.get(req);
  who.set(req, { member: known?.member ?? '', transport });
}

/**
 * One `info` line per HTTP request when its answer is done (an SSE stream or a held poll: when
 * it ends): method, path (never the query, which may hold a token), status, duration, bytes
 * sent, and who, when the handshake knew. Readable on a terminal (pino-pretty), JSON otherwise.
 */
export function logAccess(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  if (!logger.isLevelEnabled('info')) return;
  const started = performance.now();
  const socket = req.socket;
  const before = socket.bytesWritten;
  res.once('close', () => {
    const w = who.get(req);
    logger.info(
      {
        method: req.method,
        path: (req.url ?? '/').split('?')[0]!.slice(0, 200),
        status: res.headersSent ? res.statusCode : 0,
        ms: Math.round(performance.now() - started),
        bytes: Math.max(0, socket.bytesWritten - before),
        ...(w ? { transport: w.transport, member: w.member } : {}),
        address: socket.remoteAddress,
      },
      'request',
    );
  });
}
