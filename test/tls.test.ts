/**
 * HTTPS with `tlsCert` / `tlsKey`: one port, ALPN `h2` and `http/1.1`. SSE, polls, the REST API
 * and the lecture's routes over HTTP/2 (many streams on one connection), the same over HTTP/1.1,
 * WebSocket over the HTTP/1.1 upgrade (`/api/ws` and the lecture's `/`), the SDK over https, the
 * deadlines per stream and per connection, and the option errors.
 *
 * The certificate is self-signed, made with `openssl` (helpers/certificate.ts); clients trust it
 * through `ca` (and the SDK, in a child process, through NODE_EXTRA_CA_CERTS): nothing turns
 * certificate checks off.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type ServerHttp2Session } from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { OptionError, resolveConfig } from '../src/server/options.js';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '../src/server/server.js';
import { WsProbe, waitFor } from './helpers.js';
import { makeCertificate, skipWithoutOpenssl, type Certificate } from './helpers/certificate.js';
import { CLI } from './fixtures/cli-run.js';

import { ROOT } from './fixtures/built.js';

interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: () => unknown;
}

/** One request on an HTTP/2 session, body as text. */
function h2(session: ClientHttp2Session, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const json = body === undefined ? undefined : JSON.stringify(body);
    const stream = session.request({ ':method': method, ':path': pathname, ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...headers });
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: text, json: () => JSON.parse(text) as unknown });
    });
    stream.on('error', reject);
    stream.end(json);
  });
}

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** An SSE stream on an HTTP/2 session: its parsed events. */
class H2Sse {
  readonly events: SseEvent[] = [];
  readonly stream: ClientHttp2Stream;
  status = 0;
  private buffer = '';

  constructor(session: ClientHttp2Session, pathname: string, read = true) {
    this.stream = session.request({ ':path': pathname, accept: 'text/event-stream' });
    this.stream.on('response', (h) => (this.status = Number(h[':status'])));
    this.stream.on('error', () => {});
    this.stream.setEncoding('utf8');
    if (read) this.stream.on('data', (chunk: string) => this.parse(chunk));
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    let idx: number;
    while ((idx = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, idx);
      this.buffer = this.buffer.slice(idx + 2);
      const ev: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const at = line.indexOf(':');
        const field = at < 0 ? line : line.slice(0, at);
        const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
      }
      if (data.length > 0) this.events.push({ ...ev, data: data.join('\n') });
    }
  }

  of(event: string): SseEvent[] {
    return this.events.filter((e) => e.event === event);
  }
}

/** A GET over HTTPS forced to HTTP/1.1 by ALPN. */
function http1Get(url: string, ca: Buffer): Promise<{ status: number; httpVersion: string; alpn: string | false | null; body: string }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & tls.ConnectionOptions = { ca, ALPNProtocols: ['http/1.1'], agent: false };
    const req = https.get(url, options, (res) => {
      const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, alpn, body }));
    });
    req.on('error', reject);
  });
}

describe('HTTPS: HTTP/2 and HTTP/1.1 on one port', { skip: skipWithoutOpenssl() }, () => {
  let files: Certificate;
  let ca: Buffer;
  let sb: Switchboard;
  let port: number;
  let origin: string;
  /** HTTP/2 sessions the server accepted. */
  const sessions: ServerHttp2Session[] = [];
  /** The HTTP version of each request the application saw (its onConnect hook), by path. */
  const versions: { path: string; httpVersion: string }[] = [];

  const start = async (options: SwitchboardOptions = {}): Promise<{ sb: Switchboard; port: number }> => {
    const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', tlsCert: files.cert, tlsKey: files.key, ...options });
    return { sb: server, port: await server.listen() };
  };
  const connectH2 = async (at = port): Promise<ClientHttp2Session> => {
    const session = http2.connect(`https://localhost:${at}`, { ca });
    session.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    return session;
  };

  before(async () => {
    files = makeCertificate();
    ca = readFileSync(files.cert);
    ({ sb, port } = await start({
      rateLimitPerSecond: 1000,
      rateLimitBurst: 1000,
      longPollTimeoutMs: 3000,
      hooks: { onConnect: ({ request }) => void versions.push({ path: (request.url ?? '').split('?')[0]!, httpVersion: request.httpVersion }) },
    }));
    origin = `https://localhost:${port}`;
    sb.http.on('session', (s: ServerHttp2Session) => void sessions.push(s));
  });
  after(async () => {
    await sb.close();
    rmSync(files.dir, { recursive: true, force: true });
  });

  it('ALPN picks h2; 20 concurrent SSE streams share ONE HTTP/2 connection, and all of them get a message', { timeout: 20_000 }, async () => {
    const before = sessions.length;
    const client = await connectH2();
    try {
      assert.equal(client.alpnProtocol, 'h2');
      assert.equal((await h2(client, 'PUT', '/api/rooms/h2-fan')).status, 201);
      const streams = Array.from({ length: 20 }, (_, i) => new H2Sse(client, `/api/rooms/h2-fan/events?name=s${i}`));
      await waitFor(() => streams.every((s) => s.of('ready').length === 1), 5000, 'every stream ready');
      assert.ok(streams.every((s) => s.status === 200));
      const sent = await h2(client, 'POST', '/api/rooms/h2-fan/messages', { text: 'to all twenty', clientId: 'fan-1' });
      assert.equal(sent.status, 201);
      await waitFor(() => streams.every((s) => s.of('message').some((e) => (JSON.parse(e.data) as { text: string }).text === 'to all twenty')), 5000, 'the message on every stream');
      assert.equal(sessions.length - before, 1, 'one HTTP/2 connection for the page of 20 streams and the publish');
      const sse = versions.filter((v) => v.path === '/api/rooms/h2-fan/events');
      assert.equal(sse.length, 20);
      assert.ok(sse.every((v) => v.httpVersion === '2.0'), 'the application saw HTTP/2 requests');
      // HTTP/2 forbids connection-level headers: none is sent.
      const head = await new Promise<IncomingHttpHeaders>((resolve) => {
        const s = client.request({ ':path': '/api/rooms/h2-fan/events' });
        s.on('response', (h) => {
          resolve(h);
          s.close();
        });
      });
      assert.equal(head['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(head.connection, undefined);
      for (const s of streams) s.stream.close();
    } finally {
      client.close();
    }
  });

  it('polls, long polls, history and REST publish over h2', { timeout: 15_000 }, async () => {
    const client = await connectH2();
    try {
      assert.equal((await h2(client, 'PUT', '/api/rooms/h2-poll')).status, 201);
      const first = await h2(client, 'POST', '/api/rooms/h2-poll/messages', { text: 'one' });
      assert.equal(first.status, 201);
      const cursor = (first.json() as { cursor: string }).cursor;
      const poll = await h2(client, 'GET', '/api/rooms/h2-poll/poll?after=0');
      assert.equal(poll.status, 200);
      assert.deepEqual((poll.json() as { entries: { text?: string }[] }).entries.map((e) => e.text).filter(Boolean), ['one']);
      // A held long poll answers when the next message comes, over another stream of the same connection.
      const held = h2(client, 'GET', `/api/rooms/h2-poll/longpoll?after=${cursor}`);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await h2(client, 'POST', '/api/rooms/h2-poll/messages', { text: 'two' })).status, 201);
      const answer = await held;
      assert.equal(answer.status, 200);
      assert.deepEqual((answer.json() as { entries: { text?: string }[] }).entries.map((e) => e.text), ['two']);
      const history = await h2(client, 'GET', '/api/rooms/h2-poll/messages');
      assert.deepEqual((history.json() as { entries: { text?: string }[] }).entries.map((e) => e.text).filter(Boolean), ['one', 'two']);
      // Errors are catalog answers, as over HTTP/1.1.
      const bad = await h2(client, 'POST', '/api/rooms/h2-poll/messages', 'not an object');
      assert.equal(bad.status, 400);
      assert.equal((bad.json() as { code: string }).code, 'BAD_REQUEST');
      const notJson = await h2(client, 'POST', '/api/rooms/h2-poll/messages', undefined, { 'content-type': 'text/plain' });
      assert.equal(notJson.status, 415);
    } finally {
      client.close();
    }
  });

  it('HEAD over h2: the head of the GET, no body; the long-poll and SSE routes answer at once', { timeout: 15_000 }, async () => {
    const client = await connectH2();
    try {
      assert.equal((await h2(client, 'PUT', '/api/rooms/h2-head')).status, 201);
      const get = await h2(client, 'GET', '/api/rooms/h2-head');
      const head = await h2(client, 'HEAD', '/api/rooms/h2-head');
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], get.headers['content-length']);
      assert.equal(head.body, '');
      for (const path of ['/api/rooms/h2-head/longpoll', '/api/rooms/h2-head/events', '/subscribe', '/longpoll']) {
        const started = Date.now();
        const answer = await h2(client, 'HEAD', path);
        assert.ok(answer.status === 200 || answer.status === 204, `${path}: ${answer.status}`);
        assert.equal(answer.body, '', path);
        assert.ok(Date.now() - started < 2000, path);
      }
    } finally {
      client.close();
    }
  });

  it("the lecture's routes over h2: /update, /poll (cookie), /longpoll, /subscribe", { timeout: 15_000 }, async () => {
    const client = await connectH2();
    try {
      const sub = new H2Sse(client, '/subscribe');
      await waitFor(() => sub.status === 200, 3000, '/subscribe open');
      // A new poller gets a cursor cookie at the end of the log: 204.
      const firstPoll = await h2(client, 'GET', '/poll');
      assert.equal(firstPoll.status, 204);
      const cookies = ([] as string[]).concat(firstPoll.headers['set-cookie'] ?? []);
      const cookie = cookies.map((c) => c.split(';')[0]).join('; ');
      assert.match(cookie, /sb_seed=/);
      const update = await h2(client, 'POST', '/update', { text: 'lecture over h2' });
      assert.equal(update.status, 200);
      assert.deepEqual(Object.keys(update.json() as object), ['text', 'timestamp']);
      const poll = await h2(client, 'GET', '/poll', undefined, { cookie });
      assert.equal(poll.status, 200);
      assert.equal((JSON.parse(poll.body) as { text: string }).text, 'lecture over h2');
      await waitFor(() => sub.events.some((e) => (JSON.parse(e.data) as { text?: string }).text === 'lecture over h2'), 3000, '/subscribe got it');
      const held = h2(client, 'GET', '/longpoll');
      await new Promise((r) => setTimeout(r, 200));
      await h2(client, 'POST', '/update', { text: 'held' });
      const longpoll = await held;
      assert.equal(longpoll.status, 200);
      assert.equal((JSON.parse(longpoll.body) as { text: string }).text, 'held');
      sub.stream.close();
    } finally {
      client.close();
    }
  });

  it('an HTTP/1.1 client (ALPN http/1.1) is served on the same port', async () => {
    const r = await http1Get(`${origin}/api/rooms/lobby/messages?limit=5`, ca);
    assert.equal(r.status, 200);
    assert.equal(r.httpVersion, '1.1');
    assert.equal(r.alpn, 'http/1.1');
    assert.ok(Array.isArray((JSON.parse(r.body) as { entries: unknown[] }).entries));
    const health = await http1Get(`${origin}/healthz`, ca);
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
  });

  it('WebSocket over wss on the same port: the native protocol at /api/ws and the lecture at /', { timeout: 15_000 }, async () => {
    const client = await connectH2();
    const probe = new WsProbe(`wss://localhost:${port}/api/ws?name=wss`, { ca });
    try {
      await probe.opened;
      await probe.next('welcome');
      probe.send({ type: 'subscribe', room: 'lobby' });
      await probe.next('subscribed');
      assert.equal((await h2(client, 'POST', '/api/rooms/lobby/messages', { text: 'to the socket' })).status, 201);
      await probe.next('message', (f) => f.text === 'to the socket');

      const frames: string[] = [];
      const lecture = new WebSocket(`wss://localhost:${port}`, { ca });
      lecture.on('message', (d) => frames.push(String(d)));
      await new Promise<void>((resolve, reject) => {
        lecture.once('open', () => resolve());
        lecture.once('error', reject);
      });
      await waitFor(() => frames.length >= 1, 3000, 'the welcome');
      assert.match((JSON.parse(frames[0]!) as { text: string }).text, /Welcome/);
      lecture.send('Hello over wss');
      await waitFor(() => frames.some((f) => (JSON.parse(f) as { text: string }).text === 'Hello over wss'), 3000, 'the relayed text');
      lecture.close();
    } finally {
      probe.close();
      client.close();
    }
  });

  it('the SDK over https, on every transport (the certificate trusted through NODE_EXTRA_CA_CERTS)', { timeout: 60_000 }, async () => {
    const script = `
      const { connect } = await import(${JSON.stringify(path.join(ROOT, 'src/client/index.ts'))});
      const results = {};
      for (const transport of ['websocket', 'sse', 'long-polling', 'polling']) {
        const client = await connect({ url: process.env.URL, room: 'sdk-tls', name: 'sdk-' + transport, transport, create: true, pollIntervalMs: 50, openTimeoutMs: 3000 });
        const got = new Promise((resolve) => client.on('message', (m) => { if (m.text === 'over ' + transport) resolve(m.text); }));
        await client.publish('over ' + transport);
        results[transport] = { used: client.transport, text: await Promise.race([got, new Promise((r) => setTimeout(() => r('timeout'), 5000))]) };
        await client.close();
      }
      process.stdout.write(JSON.stringify(results));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: files.cert, URL: origin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, err);
    const results = JSON.parse(out) as Record<string, { used: string; text: string }>;
    for (const transport of ['websocket', 'sse', 'long-polling', 'polling']) {
      assert.deepEqual(results[transport], { used: transport, text: `over ${transport}` }, transport);
    }
  });
});

describe('HTTPS deadlines: per stream on HTTP/2, so one stalled stream never stalls its connection', { skip: skipWithoutOpenssl() }, () => {
  let files: Certificate;
  let ca: Buffer;
  let sb: Switchboard;
  let port: number;

  before(async () => {
    files = makeCertificate();
    ca = readFileSync(files.cert);
    sb = createSwitchboard({
      port: 0,
      host: '127.0.0.1',
      store: 'memory',
      logLevel: 'silent',
      tlsCert: files.cert,
      tlsKey: files.key,
      headersTimeoutMs: 800,
      requestTimeoutMs: 1500,
      writeTimeoutMs: 2500,
      rateLimitPerSecond: 1000,
      rateLimitBurst: 1000,
      maxMessageBytes: 65536,
    });
    port = await sb.listen();
  });
  after(async () => {
    await sb.close();
    rmSync(files.dir, { recursive: true, force: true });
  });

  const connectH2 = async (): Promise<ClientHttp2Session> => {
    const session = http2.connect(`https://localhost:${port}`, { ca });
    session.on('error', () => {});
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    return session;
  };

  it('a request whose body never ends gets 408 after requestTimeoutMs; its connection goes on serving', { timeout: 10_000 }, async () => {
    const client = await connectH2();
    try {
      const started = Date.now();
      const slow = client.request({ ':method': 'POST', ':path': '/api/rooms/lobby/messages', 'content-type': 'application/json' });
      slow.on('error', () => {});
      slow.write('{"text":'); // and never the rest
      const status = await new Promise<number>((resolve) => {
        slow.on('response', (h) => resolve(Number(h[':status'])));
        slow.on('close', () => resolve(-1));
      });
      const took = Date.now() - started;
      assert.equal(status, 408);
      assert.ok(took >= 1400 && took < 4000, `answered after ${took} ms`);
      assert.equal((await h2(client, 'GET', '/healthz')).status, 200, 'the same connection still serves');
    } finally {
      client.close();
    }
  });

  it('a stalled SSE stream (its reader stopped) is cut alone, after writeTimeoutMs; the other streams of its connection keep flowing', { timeout: 20_000 }, async () => {
    const client = await connectH2();
    try {
      assert.equal((await h2(client, 'PUT', '/api/rooms/stall')).status, 201);
      const stalled = new H2Sse(client, '/api/rooms/stall/events?name=stalled', false);
      stalled.stream.pause();
      const live = new H2Sse(client, '/api/rooms/stall/events?name=live');
      await waitFor(() => stalled.status === 200 && live.of('ready').length === 1, 5000, 'both streams open');
      assert.equal(sb.context.connections.size, 2);
      // ~60 KiB each: the stalled stream's window (64 KiB) fills at once, then its buffers.
      const text = 'x'.repeat(60 * 1024);
      for (let i = 0; i < 6; i++) assert.equal((await h2(client, 'POST', '/api/rooms/stall/messages', { text: `${i}${text}` })).status, 201);
      await waitFor(() => live.of('message').length === 6, 5000, 'the live stream got all six');
      const stalledAt = Date.now();
      await waitFor(() => sb.context.connections.size === 1, 8000, 'the stalled stream cut');
      const took = Date.now() - stalledAt;
      assert.ok(took >= 1500, `cut after ${took} ms, before writeTimeoutMs`);
      // The client does not emit 'close' for a stream it has not read to its end: its reset is the sign.
      await waitFor(() => stalled.stream.rstCode === http2.constants.NGHTTP2_CANCEL, 3000, 'RST_STREAM CANCEL on the stalled stream');
      // The connection is fine: a new request, and the live stream still gets messages.
      assert.equal((await h2(client, 'POST', '/api/rooms/stall/messages', { text: 'after' })).status, 201);
      await waitFor(() => live.of('message').some((e) => (JSON.parse(e.data) as { text: string }).text === 'after'), 3000, 'the live stream goes on');
      assert.equal(client.destroyed, false);
      live.stream.close();
    } finally {
      client.close();
    }
  });

  it('an answer its reader does not take is reset after writeTimeoutMs of inactivity, alone', { timeout: 15_000 }, async () => {
    const client = await connectH2();
    try {
      // The room of the previous test holds ~360 KB of messages: more than a stream's window.
      const unread = client.request({ ':path': '/api/rooms/stall/messages?limit=500' });
      unread.on('error', () => {});
      unread.pause();
      const started = Date.now();
      await waitFor(() => unread.rstCode === http2.constants.NGHTTP2_CANCEL, 8000, 'the unread answer reset');
      const took = Date.now() - started;
      assert.ok(took >= 2000, `reset after ${took} ms, before writeTimeoutMs`);
      assert.equal((await h2(client, 'GET', '/healthz')).status, 200, 'the connection still serves');
    } finally {
      client.close();
    }
  });

  it('a new HTTP/2 connection that sends no request is closed after headersTimeoutMs', { timeout: 10_000 }, async () => {
    const client = http2.connect(`https://localhost:${port}`, { ca });
    client.on('error', () => {});
    const started = Date.now();
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    const took = Date.now() - started;
    assert.ok(took >= 700 && took < 4000, `closed after ${took} ms`);
  });

  it('HTTP/1.1 over TLS keeps its deadlines: headers that never end get 408', { timeout: 10_000 }, async () => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    assert.equal(socket.alpnProtocol, 'http/1.1');
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const started = Date.now();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n'); // and never the blank line
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const took = Date.now() - started;
    assert.match(got, /^HTTP\/1\.1 408 /);
    assert.ok(took < 4000, `cut after ${took} ms`);
  });

  it('a failed TLS handshake (plain HTTP on the TLS port) is dropped without an answer in clear', { timeout: 10_000 }, async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    assert.doesNotMatch(got, /HTTP\/1\.1 400/);
  });
});

describe('TLS options', () => {
  it('--tls-cert and --tls-key go together: one line naming both and the source', () => {
    assert.throws(
      () => resolveConfig({ flags: { tlsCert: 'cert.pem' } }),
      (err: unknown) => err instanceof OptionError && /--tls-cert needs --tls-key \(TLS_KEY\)/.test(err.message) && /--tls-cert came from the command line/.test(err.message),
    );
    assert.throws(
      () => resolveConfig({ env: { TLS_KEY: 'key.pem' } }),
      (err: unknown) => err instanceof OptionError && /--tls-key needs --tls-cert \(TLS_CERT\)/.test(err.message) && /env TLS_KEY/.test(err.message),
    );
    const c = resolveConfig({ env: { TLS_CERT: 'c.pem', TLS_KEY: 'k.pem' } });
    assert.equal(c.tlsCert, 'c.pem');
    assert.equal(c.tlsKey, 'k.pem');
    assert.throws(
      () => createSwitchboard({ tlsCert: 'c.pem', store: 'memory', logLevel: 'silent' }),
      (err: unknown) => err instanceof OptionError && /^--tls-cert needs --tls-key \(TLS_KEY\).*came from createSwitchboard option tlsCert$/.test(err.message),
    );
  });

  it('`serve` stops with exit code 2 and one line: one of the two missing, or a file it cannot read', { timeout: 60_000 }, async () => {
    const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
        for (const name of ['TLS_CERT', 'TLS_KEY', 'PORT', 'REDIS_URL', 'STORE']) delete env[name];
        const child = spawn(process.execPath, [...CLI, 'serve', '--store', 'memory', '--port', '0', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    for (const [args, pattern] of [
      [['--tls-cert', 'cert.pem'], /--tls-cert needs --tls-key/],
      [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], /cannot read --tls-cert file \/nonexistent\/cert\.pem: no such file/],
    ] as const) {
      const r = await run([...args]);
      assert.equal(r.code, 2, `exit code 2 (stderr: ${r.stderr})`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
      assert.match(lines[0]!, pattern);
      assert.equal(r.stdout, '');
    }
  });
});
