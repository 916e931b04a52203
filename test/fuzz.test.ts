/**
 * A hostile client's fuzz of every route and frame, seeded (FUZZ_SEED for another draw):
 * each route the server lists (`Switchboard.routes`, so a route added later is fuzzed too) gets
 * odd path parameters, query parameters, headers, tokens and bodies; each WebSocket endpoint gets
 * odd frames. Whatever comes, the server answers within a bound, with a catalog error whose HTTP
 * status is the catalog's, never 500, logs no error, and serves a plain client afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import fc from 'fast-check';
import pino from 'pino';
import WebSocket from 'ws';
import { ERRORS, type ErrorCode } from '../src/protocol/errors.js';
import { mintToken } from '../src/server/auth/mint-token.js';
import type { Switchboard, SwitchboardOptions } from '../src/server/index.js';
import { startServer } from './helpers.js';
import { makeCertificate, type Certificate } from './helpers/certificate.js';

/** fast-check's seed of the draws (the sweep is the same every run). */
const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
/** Requests per route, per server. */
const PER_ROUTE = Number(process.env.FUZZ_PER_ROUTE ?? 24);
/** WebSocket connections per endpoint, per server, and frames on each. */
const SOCKETS = Number(process.env.FUZZ_SOCKETS ?? 24);
const FRAMES = 12;
/** Requests in flight at once. */
const PARALLEL = 16;
/** An answer's head comes within this, except on the routes that hold it (long polls). */
const ANSWER_MS = 3000;
const SECRET = 'fuzz-secret-of-at-least-thirty-two-bytes!';
const API_KEY = 'fuzz-api-key-of-at-least-thirty-two-bytes';

const deep = (n: number, open: string, close: string, inner = '1'): string => open.repeat(n) + inner + close.repeat(n);

const ROOMS = ['lobby', 'lobby', 'lobby', 'nope', '__proto__', 'constructor', 'a'.repeat(64), 'a'.repeat(65), '..', '.', '%2e%2e', '%ZZ', '%00', 'a%20b', '%E2%80%AE', '%E3%83%AD', 'a%2Fb', 'x'.repeat(3000)];
const SEQS = ['1', '1', '2', '0', '-1', '1.5', '9007199254740993', '1e3', 'abc', '00001', '%00', '99999999'];
const MEMBERS = ['fuzzer', 'anon-x', '__proto__', 'a'.repeat(300), '%ff', '%00'];
const PARAMS = ['after', 'before', 'limit', 'timeout', 'lastEventId', 'session', 'name', 'member', 'connection', 'q', 'rooms', 'token', 'presenceAt', 'typingAt', 'create', 'transport', '__proto__'];
const VALUES = ['', '0', '1', '-1', 'NaN', '1e309', '20', '100', '1001', 'x'.repeat(5000), '%00', '%ff', 'zz:-1', 'abc:1', '0:0', '9007199254740993', '__proto__', 'true', '[]', 'lobby', 'a,b,c', ','.repeat(300), '%E2%80%AE', '%C3%28', '%ED%A0%80', '*'];
/**
 * The query values of the sweep over HTTP/2, one of each kind: the routes read their parameters
 * as over HTTP/1.1 (swept whole there); what differs is how requests come and answers go.
 */
const FEW_VALUES = ['', 'x'.repeat(5000), '%ff', '1e309', '__proto__', 'zz:-1'];
const BODIES = [
  '',
  'null',
  '[]',
  '{}',
  '{"text":"hi"}',
  '{"text":"hi"}',
  '{"text":""}',
  '{"text":5}',
  '{"text":null}',
  '{"data":{"a":1}}',
  '{"data":' + deep(3000, '[', ']') + '}',
  deep(5000, '[', ']'),
  '{"text":"x","meta":' + deep(3000, '{"a":', '}') + '}',
  '{',
  '{"text":"' + 'x'.repeat(70_000) + '"}',
  '{"emoji":"👍"}',
  '{"emoji":"\\ud83d"}',
  '{"emoji":"' + 'x'.repeat(200) + '"}',
  '{"seq":5}',
  '{"seq":-1}',
  '{"name":"bob"}',
  '{"name":"\\ud800"}',
  '{"text":"hi","clientId":"' + 'c'.repeat(200) + '"}',
  '{"__proto__":{"admin":true},"text":"x"}',
  '{"constructor":{"prototype":{"x":1}},"text":"x"}',
  '{"text":"hi","replyTo":-1}',
  '{"text":"hi","replyTo":99999999}',
  '{"text":"hi","event":"' + 'e'.repeat(100) + '"}',
  '"string"',
  '123',
  '\ufeff{"text":"bom"}',
  '{"text":"\\u0000\\u202e"}',
];
const CONTENT_TYPES = ['application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/json; charset=latin1', undefined, 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded'];

type Tokens = Record<'user' | 'admin' | 'expired' | 'otherKey', string>;

function headerSets(tokens: Tokens | undefined, http1: boolean): Record<string, string>[] {
  const sets: Record<string, string>[] = [
    {},
    {},
    { authorization: 'Bearer garbage' },
    { authorization: `Bearer ${'x'.repeat(8000)}` },
    { authorization: 'Basic Zm9vOmJhcg==' },
    { cookie: 'sb_seed=zz:-1; sb_guest=x; sb_token=y' },
    { cookie: 'a'.repeat(4000) },
    { cookie: 'sb_seed=%ff%00; sb_seed=1:1' },
    { 'last-event-id': 'zz:-1' },
    { 'last-event-id': 'x'.repeat(2000) },
    { origin: 'http://evil.example' },
    { origin: 'null' },
    { accept: 'text/event-stream' },
    { 'content-encoding': 'gzip' },
    { 'x-forwarded-for': '1.2.3.4, garbage, ::1' },
    { expect: '100-continue' },
    { expect: 'something-else' },
  ];
  // Upgrades: HTTP/2 has no connection-level headers (node's client refuses to send them).
  if (http1) sets.push({ connection: 'Upgrade', upgrade: 'websocket' }, { connection: 'Upgrade', upgrade: 'h2c' }, { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '7' });
  if (tokens) {
    sets.push({ authorization: `Bearer ${tokens.user}` }, { authorization: `Bearer ${tokens.user}` }, { authorization: `Bearer ${tokens.admin}` }, { authorization: `Bearer ${tokens.admin}` });
    sets.push({ authorization: `Bearer ${tokens.expired}` }, { authorization: `Bearer ${tokens.otherKey}` }, { authorization: `Bearer ${API_KEY}` }, { cookie: `sb_token=${tokens.user}` });
  }
  return sets;
}

interface Probe {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** The route may hold its answer (a long poll): no answer within ANSWER_MS is no finding. */
  mayHold: boolean;
}

/** An error answer's catalog code (`{code}`), or its status when its body has none (a lecture route's `{error}`, a refused connection). */
function errorCodeOf(answer: Answer): string {
  try {
    const code = (JSON.parse(answer.body) as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  } catch {
    // not JSON
  }
  return `status ${answer.status}`;
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
  /** No head within the bound (the request was dropped then). */
  held: boolean;
  ms: number;
}

/** Sends probes over HTTP/1.1 (keep-alive connections) or HTTP/2 (one TLS session). */
interface Client {
  send(probe: Probe): Promise<Answer>;
  close(): void;
}

/**
 * Runs one request to its answer, or to ANSWER_MS. `open` starts it and hands the response's
 * status, content type and body stream on (`onError` when it fails before or during the answer).
 */
function exchange(probe: Probe, open: (answer: (status: number, contentType: string, body: NodeJS.ReadableStream) => void, failed: (err: unknown) => void) => { end(body?: string): void; destroy(): void }): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    /** `cut`: the request is given up before its end (a stream read for a moment, no answer in time). */
    const done = (answer: Omit<Answer, 'ms'>, cut = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (cut) req.destroy();
      resolve({ ...answer, ms: performance.now() - started });
    };
    const req = open(
      (status, contentType, stream) => {
        // A stream (SSE) is read for a moment: its head is what is checked.
        if (contentType.startsWith('text/event-stream') && probe.method !== 'HEAD') {
          setTimeout(() => done({ status, contentType, body: '', held: false }, true), 20);
          stream.resume();
          return;
        }
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          if (body.length < 100_000) body += chunk;
        });
        stream.on('end', () => done({ status, contentType, body, held: false }));
        stream.on('error', () => done({ status, contentType, body, held: false }));
      },
      // A refused body may close the connection (HTTP/2: the stream) before all of it went: the answer counts.
      (err) => done({ status: -1, contentType: '', body: String(err), held: false }),
    );
    const timer = setTimeout(() => done({ status: 0, contentType: '', body: '', held: true }, true), ANSWER_MS);
    req.end(probe.body);
  });
}

function http1Client(port: number): Client {
  const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });
  return {
    send: (probe) =>
      exchange(probe, (answer, failed) => {
        const req = http.request({ host: '127.0.0.1', port, method: probe.method, path: probe.path, headers: probe.headers, agent }, (res) => answer(res.statusCode ?? 0, String(res.headers['content-type'] ?? ''), res));
        req.on('error', failed);
        return req;
      }),
    close: () => agent.destroy(),
  };
}

/**
 * Streams of one HTTP/2 session before the next session. The server's nghttp2 ends a session
 * whose client resets streams faster than it allows (1,000 at once, then 33 a second: the "rapid
 * reset" attack, CVE-2023-44487) with GOAWAY INTERNAL_ERROR; the streams read for a moment (SSE)
 * are reset here, so a session is left before it reaches that many.
 */
const STREAMS_PER_SESSION = 400;

async function http2Client(port: number, ca: string): Promise<Client> {
  const connect = async (): Promise<ClientHttp2Session> => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
    session.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    return session;
  };
  let session = await connect();
  let next: Promise<ClientHttp2Session> | undefined;
  let streams = 0;
  return {
    async send(probe) {
      // The old session is closed only once the new one is up, and every request after the
      // turn waits for it: a request on a session closing (its GOAWAY sent) is refused
      // (REFUSED_STREAM), as a version that closed it at once found.
      if (++streams % STREAMS_PER_SESSION === 0) {
        const old = session;
        next = connect();
        session = await next;
        old.close();
      } else if (next) session = await next;
      const on = session;
      return exchange(probe, (answer, failed) => {
        // Node closes a GET's, HEAD's or DELETE's side at once unless told that a body comes.
        const stream = on.request({ ':method': probe.method, ':path': probe.path, ...probe.headers }, { endStream: probe.body === undefined });
        stream.on('response', (h) => answer(Number(h[':status']), String(h['content-type'] ?? ''), stream));
        stream.on('error', failed);
        return { end: (body) => stream.end(body), destroy: () => stream.close(http2.constants.NGHTTP2_CANCEL) };
      });
    },
    close: () => session.close(),
  };
}

/** A path parameter's value: a valid one, or (`odd`) one drawn from the odd ones. */
function pathOf(route: { path: string }, valueOf: (name: string) => string): string {
  return route.path.replace(/:([a-zA-Z]+)/g, (_, name: string) => valueOf(name));
}

const VALID: Record<string, string> = { room: 'lobby', seq: '1', member: 'fuzzer' };
const ODD: Record<string, readonly string[]> = { room: ROOMS, seq: SEQS, member: MEMBERS };

/** A long poll that would hold for the server's whole timeout is told a short one. */
function shortHold(route: { path: string }, query: string[]): string[] {
  return route.path.includes('longpoll') && !query.some((q) => q.startsWith('timeout=')) ? [...query, 'timeout=50'] : query;
}

function probe(route: { method: string; path: string }, path: string, query: string[], headers: Record<string, string>, body?: string, method = route.method): Probe {
  const q = shortHold(route, query);
  return { method, path: q.length > 0 ? `${path}?${q.join('&')}` : path, headers, ...(body !== undefined ? { body } : {}), mayHold: route.path.includes('longpoll') };
}

const takesBody = (method: string): boolean => method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';

/**
 * One odd thing at a time, every one on every route: each path parameter's odd values, each
 * query parameter's, each header set, and on the routes of a method that may carry one, each
 * body in each content type. Found refusals are then the route's own, not an earlier check's.
 */
function sweep(route: { method: string; path: string }, headers: Record<string, string>[], base: Record<string, string>, values: readonly string[]): Probe[] {
  const valid = pathOf(route, (name) => VALID[name] ?? 'x');
  const out: Probe[] = [];
  for (const name of route.path.match(/:([a-zA-Z]+)/g)?.map((m) => m.slice(1)) ?? []) {
    for (const odd of ODD[name] ?? VALUES) out.push(probe(route, pathOf(route, (n) => (n === name ? odd : (VALID[n] ?? 'x'))), [], base));
  }
  for (const param of PARAMS) for (const value of values) out.push(probe(route, valid, [`${param}=${value}`], base));
  for (const h of headers) out.push(probe(route, valid, [], { ...base, ...h }));
  if (takesBody(route.method)) {
    for (const body of BODIES) out.push(probe(route, valid, [], { ...base, 'content-type': 'application/json' }, body));
    for (const type of CONTENT_TYPES) out.push(probe(route, valid, [], { ...base, ...(type !== undefined ? { 'content-type': type } : {}) }, '{"text":"hi","name":"x","emoji":"👍"}'));
  }
  return out;
}

/**
 * Odd things together, drawn by fast-check (seeded): odd path parameters and arbitrary strings,
 * up to three query parameters, a header set, now and then another method, a body.
 */
/** Every byte of the text's UTF-8 percent-encoded (a lone surrogate, which encodeURIComponent refuses, as EF BF BD). */
const escaped = (text: string): string => [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

function draws(route: { method: string; path: string }, headers: Record<string, string>[], seed: number): Probe[] {
  const names = route.path.match(/:([a-zA-Z]+)/g)?.map((m) => m.slice(1)) ?? [];
  const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
  const arbitrary = fc.record({
    params: fc.tuple(...names.map((name) => fc.oneof(fc.constantFrom(...(ODD[name] ?? VALUES)), text.map(escaped)))),
    query: fc.array(fc.tuple(fc.constantFrom(...PARAMS), fc.oneof(fc.constantFrom(...VALUES), text.map(escaped))), { maxLength: 3 }),
    // A long poll is left to hold for the server's whole timeout (0.1 s) now and then.
    hold: fc.constantFrom('', 'timeout=', 'timeout=300', 'timeout=1000'),
    headers: fc.constantFrom(...headers),
    method: fc.oneof({ weight: 24, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom('OPTIONS', 'PUT', 'TRACE', 'PROPFIND') }),
    body: fc.option(fc.oneof(fc.constantFrom(...BODIES), fc.json({ maxDepth: 4 }), text), { freq: 4 }),
    type: fc.constantFrom(...CONTENT_TYPES),
    // A body on a GET too, one time in ten.
    bodyAnyway: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  });
  return fc.sample(arbitrary, { seed, numRuns: PER_ROUTE }).map((d) => {
    const path = pathOf(route, (name) => d.params[names.indexOf(name)]!);
    const query = d.query.map(([k, v]) => `${k}=${v}`);
    if (d.hold !== '' && route.path.includes('longpoll')) query.push(d.hold);
    const body = d.body === null || (!takesBody(d.method) && !d.bodyAnyway) ? undefined : d.body;
    const h = body !== undefined && d.type !== undefined ? { ...d.headers, 'content-type': d.type } : d.headers;
    return probe(route, path, query, h, body, d.method);
  });
}

/** What is wrong with an answer, if anything. */
function findingOf(probe: Probe, answer: Answer): string | undefined {
  if (answer.held) return probe.mayHold ? undefined : `no answer within ${ANSWER_MS} ms`;
  if (answer.status === -1) return probe.body !== undefined && probe.body.length > 4096 ? undefined : `connection failed: ${answer.body}`;
  if (answer.status >= 500 && answer.status !== 503) return `status ${answer.status}: ${answer.body.slice(0, 200)}`;
  if (answer.status < 400 || probe.method === 'HEAD') return undefined;
  // The lecture's long poll ends empty, 408, when nothing came (its page polls again at once).
  if (answer.status === 408 && answer.body === '' && probe.path.startsWith('/longpoll')) return undefined;
  if (!answer.contentType.startsWith('application/json')) return `error ${answer.status} not JSON (${answer.contentType}): ${answer.body.slice(0, 200)}`;
  let parsed: { code?: unknown; message?: unknown };
  try {
    parsed = JSON.parse(answer.body) as typeof parsed;
  } catch {
    return `error ${answer.status} body not JSON: ${answer.body.slice(0, 200)}`;
  }
  const code = parsed.code;
  if (typeof code !== 'string' || !(code in ERRORS)) return `code ${String(code)} is not in the catalog`;
  if (code === 'INTERNAL') return `INTERNAL: ${String(parsed.message)}`;
  if (ERRORS[code as ErrorCode].status !== answer.status) return `${code} answered ${answer.status}, the catalog says ${ERRORS[code as ErrorCode].status}`;
  if (typeof parsed.message !== 'string' || parsed.message === '') return `${code} without a message`;
  return undefined;
}

/** Close codes the catalog gives and RFC 6455's own that a client may cause (1011, internal, is not one). */
const CLOSE_CODES = new Set<number>([1000, 1001, 1005, 1006, 1007, 1008, 1009, ...Object.values(ERRORS).flatMap((e) => ('close' in e && e.close !== 1011 ? [e.close] : []))]);

const FRAME_TYPES = ['subscribe', 'unsubscribe', 'publish', 'edit', 'delete', 'react', 'mark-read', 'typing', 'ping', 'refresh', 'hello', '__proto__', '', 'PUBLISH'];
const FRAME_FIELDS = ['id', 'room', 'after', 'create', 'text', 'data', 'event', 'clientId', 'replyTo', 'seq', 'emoji', 'on', 'token', 'meta', '__proto__'];
const FRAME_VALUES: unknown[] = ['lobby', 'lobby', 'nope', '', 'x'.repeat(5000), 1, 0, -1, 1.5, 2 ** 53 + 1, true, null, [], {}, { a: 1 }, 'zz:-1', '1', '\ud800', '👍', JSON.parse(deep(200, '[', ']')) as unknown];
const RAW_FRAMES: (string | Buffer)[] = ['', 'not json', '[]', 'null', '"ping"', deep(5000, '[', ']'), Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from('{"type":"ping"}'), `{"type":"publish","room":"lobby","text":"${'x'.repeat(70_000)}"}`, '\ufeff{"type":"ping"}'];

interface SocketResult {
  codes: string[];
  close: number;
}

function fuzzSocket(url: string, frames: (string | Buffer)[], options: WebSocket.ClientOptions): Promise<SocketResult> {
  return new Promise((resolve) => {
    const codes: string[] = [];
    const ws = new WebSocket(url, options);
    const timer = setTimeout(() => ws.terminate(), ANSWER_MS);
    ws.on('message', (data, binary) => {
      if (binary) return;
      try {
        const frame = JSON.parse(String(data)) as { type?: unknown; code?: unknown };
        if (frame.type === 'error') codes.push(String(frame.code));
      } catch {
        // The lecture's endpoint sends plain text too.
      }
    });
    ws.on('open', () => {
      for (const frame of frames) ws.send(frame);
      // Let the answers come, then leave.
      setTimeout(() => ws.close(1000), 150);
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ codes, close: code });
    });
  });
}

/** Frames of one connection, drawn by fast-check (seeded): known and unknown types with odd fields, raw frames among them. */
function framesOf(seed: number, count: number): (string | Buffer)[][] {
  const frame = fc.oneof(
    { weight: 6, arbitrary: fc.record({ type: fc.constantFrom(...FRAME_TYPES), room: fc.constantFrom('lobby', 'lobby', 'nope'), fields: fc.dictionary(fc.constantFrom(...FRAME_FIELDS), fc.oneof(fc.constantFrom(...FRAME_VALUES), fc.jsonValue({ maxDepth: 3 })), { maxKeys: 4 }) }).map(({ type, room, fields }) => JSON.stringify({ type, room, ...fields })) },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_FRAMES) },
    { weight: 1, arbitrary: fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 100 })) },
  );
  return fc.sample(fc.array(frame, { minLength: FRAMES, maxLength: FRAMES }), { seed, numRuns: count });
}

const SERVERS: { name: string; options: SwitchboardOptions; secured: boolean; tls: boolean }[] = [
  { name: 'open (no token key: everyone a guest with every right)', options: {}, secured: false, tls: false },
  { name: 'secured (tokens, an API key, guests may write in lobby)', options: { jwtSecret: SECRET, apiKey: API_KEY, devLogin: true, guests: 'write' }, secured: true, tls: false },
  // Node's HTTP/2 compatibility objects take other paths (no connection headers, streams reset, not sockets).
  { name: 'secured, over HTTP/2 and TLS (WebSocket over HTTP/1.1 on the same port)', options: { jwtSecret: SECRET, apiKey: API_KEY, guests: 'write' }, secured: true, tls: true },
];

for (const setup of SERVERS) {
  describe(`fuzz of every route and frame, ${setup.name}`, () => {
    let server: Switchboard;
    let port: number;
    let client: Client;
    let certificate: Certificate | undefined;
    const errors: { level: number; msg?: string }[] = [];
    let logLines = 0;
    let tokens: Tokens | undefined;

    before(async () => {
      // At info, the access log included: what one client's requests make the server write is bounded too.
      const logger = pino({ level: 'info' }, {
        write: (line: string) => {
          logLines++;
          const parsed = JSON.parse(line) as { level: number; msg?: string };
          if (parsed.level >= 50) errors.push(parsed);
        },
      });
      certificate = setup.tls ? makeCertificate() : undefined;
      ({ server, port } = await startServer({
        logger,
        longPollTimeoutMs: 100,
        rateLimitPerSecond: 1_000_000,
        rateLimitBurst: 1_000_000,
        typingRatePerSecond: 1_000_000,
        subscribeRatePerSecond: 1_000_000,
        createRatePerSecond: 1_000_000,
        connectRatePerSecond: 1_000_000,
        queryRatePerSecond: 1_000_000,
        ...(certificate ? { tlsCert: certificate.cert, tlsKey: certificate.key } : {}),
        ...setup.options,
      }));
      client = certificate ? await http2Client(port, readFileSync(certificate.cert, 'utf8')) : http1Client(port);
      await server.createRoom('lobby');
      await server.publish('lobby', { text: 'first' });
      await server.publish('lobby', { text: 'second' });
      if (setup.secured) {
        tokens = {
          user: await mintToken(SECRET, { sub: 'fuzzer', name: 'Fuzzer', rooms: { lobby: ['read', 'write'] }, ttlSec: 3600 }),
          admin: await mintToken(SECRET, { sub: 'boss', name: 'Boss', rooms: { '*': ['read', 'write', 'create', 'admin'] }, ttlSec: 3600 }),
          expired: await mintToken(SECRET, { sub: 'late', rooms: { '*': ['read'] }, ttlSec: 60 }, Date.now() - 3_600_000),
          otherKey: await mintToken('another-secret-of-at-least-thirty-two-bytes', { sub: 'forger', rooms: { '*': ['admin'] }, ttlSec: 3600 }),
        };
      }
    });
    after(async () => {
      client.close();
      await server.close();
      if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
    });

    it('every route answers odd parameters, queries, headers, tokens and bodies within a bound with a catalog error of the catalog\'s status, never 500', async () => {
      const routes = server.routes;
      // The lecture's and the native routes, and the operations routes on this port.
      assert.ok(routes.length >= 30, `${routes.length} routes listed`);
      assert.ok(routes.some((r) => r.method === 'POST' && r.path === '/update'));
      const headers = headerSets(tokens, !setup.tls);
      // On the secured server the sweep goes as the user of `lobby`: past the token check.
      const base: Record<string, string> = tokens ? { authorization: `Bearer ${tokens.user}` } : {};
      const probes = routes.flatMap((route) => [...sweep(route, headers, base, setup.tls ? FEW_VALUES : VALUES), ...draws(route, headers, SEED)]);
      const findings: string[] = [];
      const statuses = new Map<number, number>();
      // The error codes answered (a catalog code, else the status): the refusals' log lines are limited per code.
      const codes = new Set<string>();
      const linesBefore = logLines;
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < probes.length) {
            const probe = probes[next++]!;
            const answer = await client.send(probe);
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            if (answer.status >= 400) codes.add(errorCodeOf(answer));
            const finding = findingOf(probe, answer);
            if (finding) findings.push(`${probe.method} ${probe.path.slice(0, 120)} ${JSON.stringify(probe.headers).slice(0, 120)} body ${JSON.stringify(probe.body?.slice(0, 60))}: ${finding}`);
          }
        }),
      );
      assert.deepEqual(findings.slice(0, 20), [], `${findings.length} findings of ${probes.length} requests (seed ${SEED})`);
      // Refusals and the access log are rate-limited per address: a few hundred lines, not one a
      // request. Bounded by time, not by requests (a slower machine takes longer over the same
      // sweep): the access log's --access-log-rate (20 lines a second past a burst of 200, one
      // address) and the refusals' 5 lines per code per 10 s (LogLimiter).
      const seconds = (performance.now() - started) / 1000;
      const lines = logLines - linesBefore;
      const bound = 200 + 20 * seconds + 5 * codes.size * (Math.ceil(seconds / 10) + 1);
      assert.ok(lines <= bound, `${lines} log lines for ${probes.length} requests in ${seconds.toFixed(1)} s, ${codes.size} error codes (at most ${Math.floor(bound)})`);
      // The draw reached past the refusals: some requests were served, many refused.
      const served = [...statuses].filter(([s]) => s >= 200 && s < 300).reduce((n, [, c]) => n + c, 0);
      const refused = [...statuses].filter(([s]) => s >= 400).reduce((n, [, c]) => n + c, 0);
      assert.ok(served > probes.length / 10 && refused > probes.length / 4, `served ${served}, refused ${refused} of ${probes.length}: ${JSON.stringify([...statuses].sort())}`);
    });

    it('every WebSocket endpoint answers odd frames with catalog errors and closes only with documented codes', async () => {
      const findings: string[] = [];
      const ws = `${certificate ? 'wss' : 'ws'}://127.0.0.1:${port}`;
      const endpoints = [`${ws}/api/ws`, `${ws}/`];
      if (tokens) endpoints.push(`${ws}/api/ws?token=${tokens.user}`, `${ws}/api/ws?token=${tokens.admin}`, `${ws}/api/ws?token=${tokens.expired}`);
      const options = certificate ? { ca: readFileSync(certificate.cert, 'utf8') } : {};
      let errorFrames = 0;
      for (const endpoint of endpoints) {
        const results = await Promise.all(framesOf(SEED + endpoints.indexOf(endpoint), SOCKETS).map((frames) => fuzzSocket(endpoint, frames, options)));
        for (const r of results) {
          errorFrames += r.codes.length;
          for (const code of r.codes) if (!(code in ERRORS) || code === 'INTERNAL') findings.push(`${endpoint}: error frame ${code}`);
          if (!CLOSE_CODES.has(r.close)) findings.push(`${endpoint}: closed ${r.close}`);
        }
      }
      assert.deepEqual(findings.slice(0, 20), [], `${findings.length} findings (seed ${SEED + 1})`);
      assert.ok(errorFrames > SOCKETS, `${errorFrames} error frames: the frames reached the checks`);
    });

    it('afterwards the server logged no error and serves a plain client', async () => {
      assert.deepEqual(errors.map((e) => e.msg), []);
      const get = (path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> => client.send({ method: body === undefined ? 'GET' : 'POST', path, headers, ...(body !== undefined ? { body } : {}), mayHold: false });
      assert.equal((await get('/healthz')).status, 200);
      const auth: Record<string, string> = tokens ? { authorization: `Bearer ${tokens.user}` } : {};
      const sent = await get('/api/rooms/lobby/messages', { 'content-type': 'application/json', ...auth }, JSON.stringify({ text: 'after the fuzz' }));
      assert.equal(sent.status, 201, sent.body);
      const { seq } = JSON.parse(sent.body) as { seq: number };
      const page = JSON.parse((await get('/api/rooms/lobby/messages?limit=1', auth)).body) as { entries: { seq: number; text?: string }[] };
      assert.deepEqual(page.entries.map((m) => [m.seq, m.text]), [[seq, 'after the fuzz']]);
    });
  });
}
