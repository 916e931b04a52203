import http from 'node:http';
import net from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import type { ServerFrame } from '../src/protocol/types.js';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '../src/server/server.js';

/** The value of one series in a Prometheus text answer (0 when absent). */
export function metricSample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** A logger that keeps every line it is given, parsed (from `level` up). */
export function captureLogs(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

/** A real server on a free loopback port, memory store, silent logs unless overridden. */
export async function startServer(options: SwitchboardOptions = {}): Promise<{ server: Switchboard; port: number; url: string }> {
  const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', ...options });
  const port = await server.listen();
  return { server, port, url: `http://127.0.0.1:${port}` };
}

/** Resolves when `predicate` is true, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A WebSocket client that records every JSON frame it gets. */
export class WsProbe {
  readonly frames: Record<string, unknown>[] = [];
  readonly ws: WebSocket;
  closeCode: number | undefined;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Record<string, unknown>));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve((this.closeCode = code))));
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  of(type: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === type);
  }

  async next(type: string, predicate: (f: Record<string, unknown>) => boolean = () => true, timeoutMs = 5000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = this.frames.find((f) => f.type === type && predicate(f))) !== undefined, timeoutMs, `frame ${type}`);
    return found!;
  }

  /** `next`, typed as the protocol declares the frame (the test's asserts check what it holds). */
  async nextFrame<T extends ServerFrame['type']>(type: T, timeoutMs = 5000): Promise<Extract<ServerFrame, { type: T }>> {
    return (await this.next(type, undefined, timeoutMs)) as unknown as Extract<ServerFrame, { type: T }>;
  }

  close(): void {
    this.ws.close();
  }
}

/** A raw SSE reader over node:http: collects parsed events. */
export class SseProbe {
  readonly events: { id?: string; event: string; data: string }[] = [];
  raw = '';
  status = 0;
  ended = false;
  private req!: http.ClientRequest;
  readonly ready: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    let buffer = '';
    this.ready = new Promise((resolve, reject) => {
      this.req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.raw += chunk;
          buffer += chunk;
          let idx: number;
          while ((idx = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, idx);
            buffer = buffer.slice(idx + 2);
            const ev: { id?: string; event: string; data: string } = { event: 'message', data: '' };
            const data: string[] = [];
            let any = false;
            for (const line of block.split('\n')) {
              if (line.startsWith(':') || line === '') continue;
              const [field, ...rest] = line.split(':');
              const value = rest.join(':').replace(/^ /, '');
              if (field === 'data') data.push(value), (any = true);
              else if (field === 'id') ev.id = value;
              else if (field === 'event') ev.event = value;
            }
            ev.data = data.join('\n');
            if (any) this.events.push(ev);
          }
        });
        res.on('end', () => (this.ended = true));
        res.on('close', () => (this.ended = true));
        resolve();
      });
      this.req.on('error', reject);
    });
  }

  close(): void {
    this.req.destroy();
  }
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => unknown;
}

/** How long `request` waits for a whole answer before it fails, naming the request (a long poll holds 30 s at most). */
export const REQUEST_DEADLINE_MS = 60_000;

/**
 * One HTTP request, body as text. Rejects, naming the request, when no whole answer came within
 * REQUEST_DEADLINE_MS or the answer broke off before its end: a test that waits on a server that
 * never answers fails at once with the route it asked, not at the file's 10-minute timeout.
 */
export function request(url: string, init: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const method = init.method ?? 'GET';
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => req.destroy(new Error(`no whole answer to ${method} ${url} within ${REQUEST_DEADLINE_MS / 1000} s`)), REQUEST_DEADLINE_MS);
    const fail = (err: Error): void => {
      clearTimeout(deadline);
      reject(err);
    };
    const req = http.request(url, { method, headers: init.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(deadline);
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as unknown });
      });
      const brokeOff = (): void => fail(new Error(`the answer to ${method} ${url} broke off after ${Buffer.concat(chunks).length} bytes of body`));
      res.on('error', brokeOff);
      res.on('close', () => {
        if (!res.complete) brokeOff();
      });
    });
    req.on('error', fail);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** One request's status and headers (raw too, so a header sent twice shows); the body read and dropped, an SSE stream cut once its head came. */
export function requestHead(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; raw: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: res.rawHeaders });
      res.destroy();
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(init.body);
  });
}

/** How many times an answer's raw headers (requestHead) carry header `name` (lower case). */
export const headerTimes = (raw: string[], name: string): number => raw.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name).length;

export function postJson(url: string, body: unknown): Promise<HttpAnswer> {
  return request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

/** Opens a raw TCP connection and writes `text`; resolves with the socket and a live buffer of what came back. */
export async function rawTcp(port: number, text: string): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(text);
  return { socket, received: () => Buffer.concat(chunks) };
}

/**
 * Streams a request body of 2 GB (declared with Content-Length, or chunked) to `path` as fast as
 * the server takes it, for 20 s at most. Resolves with what came back, how many bytes went into
 * the socket before the server closed it, and when (ms from the start).
 */
export async function streamHugeBody(port: number, method: string, path: string, chunked: boolean, headers = ''): Promise<{ answer: string; sentBytes: number; ms: number }> {
  const started = performance.now();
  const { socket, received } = await rawTcp(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\n${headers}${chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 2000000000'}\r\n\r\n`);
  const block = Buffer.alloc(1 << 16, 0x61);
  const piece = chunked ? Buffer.concat([Buffer.from(`${block.length.toString(16)}\r\n`), block, Buffer.from('\r\n')]) : block;
  let sentBytes = 0;
  let open = true;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => (open = false));
  while (open && sentBytes < 2e9 && performance.now() - started < 20_000) {
    sentBytes += piece.length;
    if (!socket.write(piece)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  socket.destroy();
  return { answer: received().toString('latin1'), sentBytes, ms: performance.now() - started };
}

/**
 * A WebSocket client written by hand over raw TCP (`rawTcp`): the handshake as `name`, then, once
 * welcomed, a `subscribe` to `room` in one masked frame (as clients must). It answers nothing (no
 * pong) and reads only while its socket is not paused: a dead or a stalled peer, as tests need.
 */
export async function rawWsSubscriber(port: number, name: string, room: string): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const handshake = `GET /api/ws?name=${name} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const raw = await rawTcp(port, handshake);
  await waitFor(() => raw.received().includes(Buffer.from('welcome')));
  const payload = Buffer.from(JSON.stringify({ type: 'subscribe', room }));
  const mask = Buffer.from([1, 2, 3, 4]);
  raw.socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
  return raw;
}

/** One HTTP/2 request on `session` (GET unless `headers` say otherwise): its status and body. */
export function h2Request(session: ClientHttp2Session, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}
