import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import { SwitchboardError } from '../protocol/errors.js';
import type { ServerContext } from './context.js';
import { originAllowed, requestToken, sendError } from './http-util.js';

export type Params = Record<string, string | undefined>;
export type Handler = (req: IncomingMessage, res: ServerResponse, params: Params, url: URL) => Promise<void> | void;
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Routes HTTP requests (find-my-way, fastify's router) and applies what every route shares:
 * CORS and the Origin list, the bearer token on native routes, and one error path that turns
 * any throw into a catalog error body.
 */
export class Router {
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true });

  constructor(
    private readonly ctx: ServerContext,
    private readonly fallback: (req: IncomingMessage, res: ServerResponse) => void,
  ) {}

  /** A native API route: token required when the server has tokens. */
  api(method: Method, path: string, handler: Handler): void {
    this.add(method, path, handler, true);
  }

  /** A public route (the lecture's routes, health checks). */
  open(method: Method, path: string, handler: Handler): void {
    this.add(method, path, handler, false);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!originAllowed(origin, req.headers.host, this.ctx.config.origins)) {
        this.fail(res, new SwitchboardError('ORIGIN_NOT_ALLOWED', origin));
        return;
      }
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'access-control-allow-headers': 'content-type, authorization, last-event-id',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    const found = this.fmw.find(req.method as Method, (req.url ?? '/').split('?')[0]!);
    if (!found) {
      this.fallback(req, res);
      return;
    }
    (found.handler as unknown as (req: IncomingMessage, res: ServerResponse, params: Params) => void)(req, res, found.params);
  }

  /** True when some route has this path under another method (for 405 rather than 404). */
  hasPath(path: string): boolean {
    return (['GET', 'POST', 'PUT', 'DELETE'] as const).some((m) => this.fmw.find(m, path) !== null);
  }

  fail(res: ServerResponse, err: unknown): void {
    const code = sendError(res, err, (e) => this.ctx.logger.error({ err: e }, 'internal error'));
    this.ctx.metrics.errors.inc({ code });
  }

  private add(method: Method, path: string, handler: Handler, needsToken: boolean): void {
    const run = async (req: IncomingMessage, res: ServerResponse, params: Params): Promise<void> => {
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        if (needsToken && this.ctx.config.tokens.length > 0) {
          const token = requestToken(req, url);
          if (token === undefined || !this.ctx.config.tokens.includes(token)) throw new SwitchboardError('UNAUTHORIZED');
        }
        await handler(req, res, params, url);
      } catch (err) {
        this.fail(res, err);
      }
    };
    this.fmw.on(method, path, (req, res, params) => void run(req as IncomingMessage, res as ServerResponse, params));
  }
}
