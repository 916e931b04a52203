import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Closable } from '../connection-registry.js';
import type { ServerContext } from '../context.js';

/**
 * Holds a long-poll request open while `work` runs: counts it against the connection cap
 * (throws TOO_MANY_CONNECTIONS / SHUTTING_DOWN), and aborts `work`'s signal when the client goes
 * away or the server shuts down (a shutdown answers held polls instead of cutting them).
 */
export async function holdRequest<T>(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const held: Closable = { shutdown: () => abort.abort(), destroy: () => res.destroy() };
  const release = ctx.connections.admit('long-polling', held);
  const onClose = (): void => abort.abort();
  res.on('close', onClose);
  req.socket.setTimeout(0);
  try {
    return await work(abort.signal);
  } finally {
    res.off('close', onClose);
    release();
  }
}
