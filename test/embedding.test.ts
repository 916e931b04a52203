/**
 * Switchboard embedded in other servers, on one port with their own routes: the examples for
 * Express, Fastify and Hono, started and exercised as a user would; the middleware form; the
 * application API (publish, history, presence, disconnect).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { start as startExpress } from '../examples/express.js';
import { start as startFastify } from '../examples/fastify.js';
import { start as startHono } from '../examples/hono.js';
import WebSocket from 'ws';
import { createSwitchboard, DEFAULT_CONFIG, OptionError, SwitchboardError, type SwitchboardOptions } from '../src/server/index.js';
import { SseProbe, WsProbe, postJson, rawTcp, request } from './helpers.js';
import { connectRaw } from './helpers/raw-socket.js';

// The examples log at info for their users; read when each starts.
process.env.LOG_LEVEL = 'silent';

for (const [name, start] of [
  ['express', startExpress],
  ['fastify', startFastify],
  ['hono', startHono],
] as const) {
  describe(`embedded in ${name}`, () => {
    it('serves the app routes and Switchboard under /chat on one port, every transport and the app API', { timeout: 20_000 }, async () => {
      const { url, close } = await start(0);
      try {
        const hello = await request(`${url}/hello`);
        assert.equal(hello.status, 200);
        assert.deepEqual(hello.json(), { hello: `from ${name}` });
        assert.equal((await request(`${url}/chat/healthz`)).status, 200);
        // Outside /chat is the app's, even for paths Switchboard knows at its root.
        assert.notEqual((await request(`${url}/healthz`)).body, '{"status":"ok"}');
        const port = new URL(url).port;
        const ws = new WsProbe(`ws://127.0.0.1:${port}/chat/api/ws`);
        await ws.opened;
        ws.send({ type: 'subscribe', room: 'lobby', id: 's' });
        await ws.next('subscribed');
        const sse = new SseProbe(`${url}/chat/api/rooms/lobby/events`);
        await sse.ready;
        const announced = await postJson(`${url}/announce`, { text: `from the ${name} backend` });
        assert.equal(announced.status, 200);
        const viaRest = await postJson(`${url}/chat/api/rooms/lobby/messages`, { text: 'over REST', name: 'ann' });
        assert.equal(viaRest.status, 201);
        const got = await ws.next('message', (f) => f.text === `from the ${name} backend`);
        assert.equal((got.from as { member: string }).member, 'system');
        await ws.next('message', (f) => f.text === 'over REST');
        const deadline = Date.now() + 5000;
        while (!sse.events.some((e) => e.event === 'message' && e.data.includes('over REST')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(sse.events.some((e) => e.event === 'message' && e.data.includes(`from the ${name} backend`)));
        const poll = (await request(`${url}/chat/api/rooms/lobby/poll?after=0`)).json() as { entries: { text?: string }[] };
        assert.ok(poll.entries.some((e) => e.text === 'over REST'));
        // The lecture's routes and WebSocket live under the path too.
        const seed = new WsProbe(`ws://127.0.0.1:${port}/chat`);
        await seed.opened;
        assert.equal((await request(`${url}/chat/poll`)).status, 204);
        // The web app, when built.
        const page = await request(`${url}/chat/`, { headers: { accept: 'text/html' } });
        if (page.status === 200) assert.match(String(page.headers['content-type']), /text\/html/);
        ws.close();
        seed.close();
        sse.close();
      } finally {
        await close();
      }
    });
  });
}

describe('the middleware form and the application API', () => {
  it('handler() takes requests under its path and passes the others to next; publish, history, presence, disconnect from code', { timeout: 15_000 }, async () => {
    const sb = createSwitchboard({ path: '/rt', store: 'memory', logLevel: 'silent' });
    await sb.start();
    const server = http.createServer((req, res) => sb.handler(req, res, () => res.writeHead(200, { 'content-type': 'text/plain' }).end('the app')));
    server.on('upgrade', (req, socket, head) => {
      if (!sb.handleUpgrade(req, socket, head)) socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      assert.equal((await request(`http://127.0.0.1:${port}/anything`)).body, 'the app');
      // The routes it lists are under its path, and answer there.
      assert.ok(sb.routes.length > 0 && sb.routes.every((r) => r.path.startsWith('/rt/')), JSON.stringify(sb.routes.slice(0, 3)));
      assert.ok(sb.routes.some((r) => r.method === 'GET' && r.path === '/rt/api/rooms/:room/messages'));
      assert.equal((await request(`http://127.0.0.1:${port}/rt/healthz`)).status, 200);
      await sb.createRoom('ops');
      const ws = new WsProbe(`ws://127.0.0.1:${port}/rt/api/ws?member=dan&name=Dan`);
      await ws.opened;
      ws.send({ type: 'subscribe', room: 'ops' });
      await ws.next('subscribed');
      const ack = await sb.publish('ops', { text: 'deploy done', member: 'ci', name: 'CI' });
      const entry = await ws.next('message', (f) => f.text === 'deploy done');
      assert.equal((entry.from as { member: string }).member, 'ci');
      assert.equal((await sb.history('ops')).entries.at(-1)!.seq, ack.seq);
      await sb.publish('ops', { event: 'deploy', data: { version: '1.2.3', ok: true } });
      const withData = await ws.next('message', (f) => f.event === 'deploy');
      assert.deepEqual(withData.data, { version: '1.2.3', ok: true });
      assert.deepEqual((await sb.presence('ops')).map((m) => m.member), ['dan']);
      await sb.disconnect('dan');
      assert.equal(await ws.closed, 4104);
    } finally {
      await sb.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("the application's own calls", () => {
  it('spend no rate budget (publish, createRoom, history in a burst past every default budget); the API key over HTTP still spends its shared one', { timeout: 15_000 }, async () => {
    const sb = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', apiKey: 'the-api-key-of-this-test' });
    const port = await sb.listen();
    try {
      // Defaults: 40 publishes at once, 20 rooms created, 50 queries.
      const rooms = Array.from({ length: 30 }, (_, i) => `team-${i}`);
      await Promise.all(rooms.map((r) => sb.createRoom(r)));
      const acks = await Promise.all(rooms.flatMap((r) => [1, 2, 3, 4].map((n) => sb.publish(r, { text: `notice ${n}` }))));
      assert.equal(acks.length, 120);
      assert.deepEqual(new Set(acks.map((a) => a.seq)), new Set([1, 2, 3, 4]));
      const pages = await Promise.all(rooms.flatMap((r) => [sb.history(r), sb.history(r)]));
      assert.ok(pages.every((p) => p.entries.length === 4));
      // A backend with the key is a client: 60 publishes at once, past the burst of 40.
      const statuses = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => (await request(`http://127.0.0.1:${port}/api/rooms/team-0/messages`, { method: 'POST', body: JSON.stringify({ text: `over http ${i}` }), headers: { 'content-type': 'application/json', authorization: 'Bearer the-api-key-of-this-test' } })).status),
      );
      assert.ok(statuses.includes(429) && statuses.filter((s) => s === 201).length >= 40, JSON.stringify(statuses));
    } finally {
      await sb.close();
    }
  });
});

describe('the web app under a path', () => {
  it('GET /chat redirects to /chat/, where the page finds its files: at /chat its ./assets/ would be the host application\'s /assets/', { timeout: 15_000 }, async () => {
    const sb = createSwitchboard({ path: '/chat', store: 'memory', logLevel: 'silent' });
    await sb.start();
    const server = http.createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('not the app'));
    sb.attach(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      for (const [method, from, to] of [
        ['GET', '/chat', '/chat/'],
        ['HEAD', '/chat', '/chat/'],
        ['GET', '/chat?room=ops', '/chat/?room=ops'],
      ] as const) {
        const r = await request(`${url}${from}`, { method });
        assert.equal(r.status, 308, `${method} ${from}`);
        assert.equal(r.headers.location, to, `${method} ${from}`);
      }
      // A target in absolute form (as a proxy may send it) is matched on its path.
      for (const [target, status] of [['http://h.example/chat/healthz', '200'], ['http://h.example/chat', '308'], ['http://h.example/elsewhere', '404']] as const) {
        const raw = await rawTcp(Number(new URL(url).port), `GET ${target} HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n\r\n`);
        await new Promise<void>((resolve) => raw.socket.once('close', () => resolve()));
        const answer = raw.received().toString('latin1');
        assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${target}: ${answer}`);
        if (status === '308') assert.match(answer, /\r\nlocation: \/chat\/\r\n/i);
        if (status === '404') assert.match(answer, /not the app/);
      }
      const page = await request(`${url}/chat/`);
      assert.equal(page.status, 200);
      const script = /<script[^>]+src="([^"]+)"/.exec(page.body)?.[1];
      assert.ok(script, 'the page loads a script');
      const file = await request(new URL(script, `${url}/chat/`).href);
      assert.equal(file.status, 200, `${script} from /chat/`);
      assert.match(String(file.headers['content-type']), /javascript/);
      // The lecture's WebSocket at /chat is still an upgrade there.
      const seed = new WsProbe(`ws://127.0.0.1:${new URL(url).port}/chat`);
      await seed.opened;
      seed.close();
    } finally {
      await sb.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('options createSwitchboard refuses', () => {
  it('a staticDir given that is not a folder throws, naming the option and the path (as serve exits 2); a folder given is served', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'sb-static-'));
    try {
      const missing = path.join(tmp, 'no-web-app');
      const file = path.join(tmp, 'index.html');
      writeFileSync(file, '<h1>the app</h1>');
      assert.throws(() => createSwitchboard({ staticDir: missing, store: 'memory', logLevel: 'silent' }), { message: `cannot use staticDir ${missing}: no such folder` });
      assert.throws(() => createSwitchboard({ staticDir: file, store: 'memory', logLevel: 'silent' }), { message: `cannot use staticDir ${file}: a file, not a folder` });
      const sb = createSwitchboard({ staticDir: tmp, store: 'memory', logLevel: 'silent', port: 0, host: '127.0.0.1' });
      try {
        const port = await sb.listen();
        assert.equal((await request(`http://127.0.0.1:${port}/index.html`)).body, '<h1>the app</h1>');
      } finally {
        await sb.close();
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('options createSwitchboard checks as serve checks its flags', () => {
  it('refuses a bad value, an unknown key and a broken rule with an OptionError naming the option, before opening anything', () => {
    const refuses = (options: Record<string, unknown>, message: string | RegExp): void => {
      assert.throws(() => createSwitchboard({ store: 'memory', logLevel: 'silent', ...options } as SwitchboardOptions), (err: unknown) => {
        assert.ok(err instanceof OptionError, String(err));
        if (typeof message === 'string') assert.equal(err.message, message);
        else assert.match(err.message, message);
        return true;
      });
    };
    refuses({ rateLimitPerSecond: -1 }, 'createSwitchboard option rateLimitPerSecond: -1 is not valid, expected a whole number from 1 to 1000000');
    refuses({ maxConnections: '10' }, 'createSwitchboard option maxConnections: "10" is not valid, expected a whole number from 1 to 10000000');
    refuses({ jwtSecert: 'not-the-secret' }, 'unknown createSwitchboard option "jwtSecert" (did you mean "jwtSecret"?)');
    refuses({ jwtSecret: 'shh-it-is-a-secret-of-32-bytes!!', devLogin: true, jwtSecret_: 1 }, /^unknown createSwitchboard option "jwtSecret_"/);
    refuses({ devLogin: true }, /^--dev-login needs --jwt-secret .* from createSwitchboard option devLogin$/);
    refuses({ jwtSecret: 'short' }, /^createSwitchboard option jwtSecret: \(hidden\) is not valid: 5 bytes, expected at least 32 /);
    // path is not in the options table, and is checked the same way.
    refuses({ path: 'chat' }, 'createSwitchboard option path: "chat" is not valid, expected a URL path that starts with / (as "/chat")');
    refuses({ path: '/chat room' }, /^createSwitchboard option path: "\/chat room" is not valid/);
    refuses({ path: 5 }, /^createSwitchboard option path: 5 is not valid/);
  });

  it('takes a key whose value is undefined as left out: the default applies (port: process.env.PORT with no such variable)', async () => {
    const sb = createSwitchboard({ store: 'memory', logLevel: 'silent', host: '127.0.0.1', port: 0, maxConnections: undefined, rateLimitPerSecond: undefined, staticDir: undefined, longPollTimeoutMs: undefined });
    try {
      assert.equal(sb.context.config.maxConnections, DEFAULT_CONFIG.maxConnections);
      assert.equal(sb.context.config.rateLimitPerSecond, DEFAULT_CONFIG.rateLimitPerSecond);
      assert.equal(sb.context.config.staticDir, DEFAULT_CONFIG.staticDir);
      const port = await sb.listen();
      // The default long-poll timeout holds the poll: with undefined it was answered at once.
      const started = Date.now();
      const first = JSON.parse((await request(`http://127.0.0.1:${port}/api/rooms/lobby/poll`)).body) as { cursor: string };
      const held = request(`http://127.0.0.1:${port}/api/rooms/lobby/longpoll?after=${first.cursor}`);
      const winner = await Promise.race([held.then(() => 'answered'), new Promise((r) => setTimeout(() => r('held'), 500))]);
      assert.equal(winner, 'held', `the long poll was answered after ${Date.now() - started} ms`);
    } finally {
      await sb.close();
    }
  });
});

describe('hooks in the session pipeline', () => {
  it('onConnect, onSubscribe and onPublish allow, refuse (FORBIDDEN or the thrown code) and transform, on every way in', { timeout: 15_000 }, async () => {
    const sb = createSwitchboard({
      port: 0,
      host: '127.0.0.1',
      store: 'memory',
      logLevel: 'silent',
      hooks: {
        onConnect: ({ principal }) => principal.member !== 'banned',
        onSubscribe: ({ room }) => room !== 'private',
        onPublish: ({ message }) => {
          if (message.text.includes('spam')) return false;
          if (message.text === 'grow') return { text: 'x'.repeat(100_000) };
          if (message.text === 'rate') throw new SwitchboardError('RATE_LIMITED', 'the application says slow down');
          return { ...message, text: message.text.toUpperCase() };
        },
      },
    });
    const port = await sb.listen();
    const url = `http://127.0.0.1:${port}`;
    try {
      await request(`${url}/api/rooms/private`, { method: 'PUT' });
      const banned = await postJson(`${url}/api/rooms/lobby/messages`, { text: 'hi', member: 'banned' });
      assert.equal(banned.status, 403);
      const refusedWs = new WebSocket(`ws://127.0.0.1:${port}/api/ws?member=banned`);
      assert.equal(await new Promise<number>((r) => refusedWs.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0))), 403);
      const ws = new WsProbe(`ws://127.0.0.1:${port}/api/ws?member=ann`);
      await ws.opened;
      ws.send({ type: 'subscribe', room: 'private', id: 'p' });
      assert.equal((await ws.next('error', (f) => f.id === 'p')).code, 'FORBIDDEN');
      ws.send({ type: 'subscribe', room: 'lobby', id: 'l' });
      await ws.next('subscribed', (f) => f.id === 'l');
      ws.send({ type: 'publish', room: 'lobby', id: 'a', text: 'quiet please' });
      await ws.next('message', (f) => f.text === 'QUIET PLEASE');
      ws.send({ type: 'publish', room: 'lobby', id: 'b', text: 'buy spam' });
      assert.equal((await ws.next('error', (f) => f.id === 'b')).code, 'FORBIDDEN');
      ws.send({ type: 'publish', room: 'lobby', id: 'c', text: 'grow' });
      assert.equal((await ws.next('error', (f) => f.id === 'c')).code, 'MESSAGE_TOO_LARGE');
      const slow = await postJson(`${url}/api/rooms/lobby/messages`, { text: 'rate' });
      assert.equal(slow.status, 429);
      assert.equal((await postJson(`${url}/update`, { text: 'lecture' })).status, 200);
      const log = (await sb.history('lobby')).entries.filter((e) => e.type === 'message').map((e) => (e.type === 'message' ? e.text : ''));
      assert.deepEqual(log, ['QUIET PLEASE', 'LECTURE']);
      ws.close();
    } finally {
      await sb.close();
    }
  });
});

describe('takeConnections: connections accepted by a server of your own', () => {
  it('are served as listen serves its own: requests, a WebSocket, the per-address socket cap, the headers deadline', { timeout: 15_000 }, async () => {
    const sb = createSwitchboard({ store: 'memory', logLevel: 'silent', maxConnectionsPerAddress: 1, headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    const take = await sb.takeConnections();
    // Accepted here and passed on unread (the primary of --worker-accept address passes them over IPC).
    const front = net.createServer(take);
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const port = (front.address() as { port: number }).port;
    try {
      assert.equal((await request(`http://127.0.0.1:${port}/healthz`)).status, 200);
      const ws = new WsProbe(`ws://127.0.0.1:${port}/api/ws`);
      await ws.opened;
      ws.close();
      // 65 sockets of one address (1 + 64) are kept, the 66th closed at once (another address than the requests' above).
      const raws = await Promise.all(Array.from({ length: 66 }, () => connectRaw(port, '127.0.0.2')));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(raws.filter((r) => r.closedAfter !== undefined).length, 1);
      const open = raws.filter((r) => r.closedAfter === undefined);
      // Past the headers deadline an unfinished request is answered 408.
      open[0]!.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      await new Promise((r) => setTimeout(r, 1500));
      assert.match(open[0]!.received, /^HTTP\/1\.1 408 /);
      for (const r of raws) r.socket.destroy();
    } finally {
      front.close();
      await sb.close();
    }
  });
});
