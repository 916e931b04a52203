import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { Gauge, type Metric } from 'prom-client';
import { configFromEnv } from '../src/server/config.js';
import { bearerMatches } from '../src/server/metrics-endpoint.js';
import { OptionError, resolveConfig } from '../src/server/options.js';
import { createSwitchboard } from '../src/server/server.js';
import { SubscriberSet } from '../src/server/subscriber-set.js';
import type { Subscriber } from '../src/server/subscriber.js';
import { SseProbe, WsProbe, metricSample as sample, postJson, request, startServer, streamHugeBody, waitFor } from './helpers.js';
import { ROOT } from './fixtures/built.js';


const scrape = async (url: string, headers: Record<string, string> = {}): Promise<string> => {
  const r = await request(url, { headers });
  assert.equal(r.status, 200, r.body);
  return r.body;
};

interface Registered {
  name: string;
  type: string;
  labels: string[];
}

/** Every metric of a server's registry, webhooks and the SQLite store's included (a server with a webhook URL, never started). */
async function registeredMetrics(): Promise<Registered[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-metrics-'));
  const server = createSwitchboard({ store: 'sqlite', dataDir, logLevel: 'silent', webhookUrl: 'http://127.0.0.1:9/hooks', webhookSecret: 'metrics-test' });
  try {
    // Registered by a process started with --heap-growing-percent only (npm start, the workers): not this one.
    server.context.metrics.heapGrowingFrom(() => 15);
    // Registered where budgets are shared only (workers, Redis): not this one.
    server.context.metrics.sharedLimitsFrom(() => ({ spendsTold: 0, spendsHeard: 0, countsTold: 0, countsHeard: 0, spendsDropped: 0 }));
    const metrics = server.context.metrics.registry.getMetricsAsArray() as unknown as Metric[];
    return await Promise.all(
      metrics.map(async (m) => {
        const { name, type } = await m.get();
        return { name, type: String(type), labels: ((m as unknown as { labelNames?: string[] }).labelNames ?? []).filter((l) => l !== 'le') };
      }),
    );
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('the default process metrics', () => {
  it('leave out those that walk every handle at each scrape; process_open_fds counts the sockets, read off the main thread', async () => {
    const s = await startServer();
    const sockets: WsProbe[] = [];
    try {
      const before = sample(await scrape(`${s.url}/metrics`), 'process_open_fds');
      for (let i = 0; i < 20; i++) sockets.push(new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=fd${i}`));
      await Promise.all(sockets.map((ws) => ws.opened));
      const text = await scrape(`${s.url}/metrics`);
      if (process.platform === 'linux') {
        // This process holds both ends of each: 40 descriptors more, give or take the runtime's own.
        const after = sample(text, 'process_open_fds');
        assert.ok(after >= before + 35, `process_open_fds ${before} -> ${after}`);
      }
      for (const walked of ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total']) {
        assert.doesNotMatch(text, new RegExp(`^${walked}[ {]`, 'm'), walked);
      }
      for (const kept of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
        assert.match(text, new RegExp(`^${kept} `, 'm'), kept);
      }
    } finally {
      for (const ws of sockets) ws.close();
      await s.server.close();
    }
  });
});

describe('nodejs_gc_duration_seconds', () => {
  /** Collections counted by the metric, every kind. */
  const gcCount = (text: string): number => [...text.matchAll(/^nodejs_gc_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);

  it('counts every collection of a long task, not the first of each (prom-client 15 records only getEntries()[0])', async () => {
    const s = await startServer();
    let seen = 0;
    const observer = new PerformanceObserver((list) => (seen += list.getEntries().length));
    try {
      const before = gcCount(await scrape(`${s.url}/metrics`));
      observer.observe({ entryTypes: ['gc'] });
      // One task that allocates about 200 MB, a tenth of it kept to the end: many minor collections, and
      // node hands observers their entries only once the task is over, in one list.
      const kept: unknown[] = [];
      for (let i = 0; i < 2_000_000; i++) {
        const o = { i, pair: [i, i + 1], label: `x${i}` };
        if (i % 10 === 0) kept.push(o);
      }
      assert.ok(kept.length > 0);
      await new Promise((r) => setTimeout(r, 50));
      observer.disconnect();
      const after = gcCount(await scrape(`${s.url}/metrics`));
      assert.ok(seen >= 5, `the task made only ${seen} collections`);
      assert.ok(after - before >= seen, `the metric counted ${after - before} collections of ${seen}`);
    } finally {
      observer.disconnect();
      await s.server.close();
    }
  });
});

describe('scrapes at once', () => {
  it('share one collection: twenty concurrent scrapes collect once, each gets the whole answer', async () => {
    const s = await startServer();
    let collects = 0;
    new Gauge({
      name: 'test_collects',
      help: 'collections of this registry',
      registers: [s.server.context.metrics.registry],
      async collect() {
        collects++;
        await new Promise((r) => setTimeout(r, 100));
        this.set(collects);
      },
    });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => scrape(`${s.url}/metrics`)));
      assert.equal(collects, 1);
      for (const text of answers) assert.equal(sample(text, 'test_collects'), 1);
      // One that comes after it collects anew.
      assert.equal(sample(await scrape(`${s.url}/metrics`), 'test_collects'), 2);
    } finally {
      await s.server.close();
    }
  });
});

describe('where /metrics is served', () => {
  it('on the main port by default, to anyone, with switchboard_connections', async () => {
    const s = await startServer();
    try {
      const r = await request(`${s.url}/metrics`);
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      assert.match(r.body, /^switchboard_connections\{transport="websocket"\} 0$/m);
      assert.equal(s.server.metricsPort, undefined);
    } finally {
      await s.server.close();
    }
  });

  it('with --metrics-port: 404 on the main port, 200 on the metrics port (127.0.0.1 by default)', async () => {
    const s = await startServer({ metricsPort: 0 });
    try {
      assert.equal((await request(`${s.url}/metrics`)).status, 404);
      const port = s.server.metricsPort;
      assert.ok(port !== undefined && port > 0 && port !== s.port, 'a port of its own');
      const body = await scrape(`http://127.0.0.1:${port}/metrics`);
      assert.match(body, /# TYPE switchboard_connections gauge/);
      assert.match(body, /process_resident_memory_bytes/);
      const other = await request(`http://127.0.0.1:${port}/api/rooms`);
      assert.equal(other.status, 404, 'the operations port serves /metrics, /healthz and /readyz only');
      assert.equal((other.json() as { code: string }).code, 'NOT_FOUND');
      const refused = await request(`http://127.0.0.1:${port}/metrics`, { method: 'POST' });
      assert.equal(refused.status, 405);
      assert.equal(refused.headers.allow, 'GET, HEAD');
      // Health probes may use the operations port (not queued behind the main port's clients), and the main port still answers them.
      for (const base of [`http://127.0.0.1:${port}`, s.url]) {
        const health = await request(`${base}/healthz`);
        assert.deepEqual([health.status, health.json()], [200, { status: 'ok' }]);
        const ready = await request(`${base}/readyz`);
        assert.equal(ready.status, 200);
        assert.deepEqual(ready.json(), { status: 'ready', store: true, broker: true, draining: false });
      }
      assert.equal((await request(`http://127.0.0.1:${port}/healthz`, { method: 'DELETE' })).status, 405);
      // No route here reads a body: a large one is not read to its end, the connection closes after the answer.
      for (const method of ['POST', 'GET']) {
        const { answer, sentBytes, ms } = await streamHugeBody(port, method, '/metrics', false);
        assert.match(answer, method === 'POST' ? /^HTTP\/1\.1 405 / : /^HTTP\/1\.1 200 /, answer.slice(0, 100));
        assert.match(answer, /\r\nconnection: close\r\n/i, method);
        assert.ok(sentBytes < 64 * 2 ** 20 && ms < 5000, `${method}: ${sentBytes} bytes went in, closed after ${ms} ms`);
      }
    } finally {
      await s.server.close();
    }
  });

  it('with a token: 401 without it or with another, 200 with it, on either port', async () => {
    const token = 'scrape-token-0123456789';
    const main = await startServer({ metricsToken: token });
    const own = await startServer({ metricsToken: token, metricsPort: 0 });
    try {
      for (const url of [`${main.url}/metrics`, `http://127.0.0.1:${own.server.metricsPort}/metrics`]) {
        const none = await request(url);
        assert.equal(none.status, 401, url);
        assert.equal((none.json() as { code: string }).code, 'UNAUTHORIZED');
        assert.match(String(none.headers['www-authenticate']), /^Bearer/);
        assert.doesNotMatch(none.body, new RegExp(token));
        assert.equal((await request(url, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
        assert.equal((await request(url, { headers: { authorization: token } })).status, 401, 'the scheme is required');
        const body = await scrape(url, { authorization: `Bearer ${token}` });
        assert.match(body, /switchboard_connections/);
        assert.match(body, /^switchboard_errors_total\{code="UNAUTHORIZED"\} [1-9]/m, 'refusals are counted');
      }
    } finally {
      await Promise.all([main.server.close(), own.server.close()]);
    }
  });

  it('off: 404', async () => {
    const s = await startServer({ metrics: false });
    try {
      assert.equal((await request(`${s.url}/metrics`)).status, 404);
      assert.equal(s.server.metricsPort, undefined);
    } finally {
      await s.server.close();
    }
  });

  it('attached to a server of yours: the same rules, under the path', async () => {
    const token = 'attached-token';
    const mine = http.createServer((_req, res) => res.end('mine'));
    const sb = createSwitchboard({ store: 'memory', logLevel: 'silent', path: '/chat', metricsToken: token });
    const off = createSwitchboard({ store: 'memory', logLevel: 'silent', path: '/off', metrics: false });
    const elsewhere = createSwitchboard({ store: 'memory', logLevel: 'silent', path: '/apart', metricsPort: 0 });
    await Promise.all([sb.start(), off.start(), elsewhere.start()]);
    for (const s of [sb, off, elsewhere]) s.attach(mine);
    await new Promise<void>((resolve) => mine.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(mine.address() as AddressInfo).port}`;
    try {
      assert.equal((await request(`${base}/chat/metrics`)).status, 401);
      assert.match(await scrape(`${base}/chat/metrics`, { authorization: `Bearer ${token}` }), /switchboard_connections/);
      assert.equal((await request(`${base}/off/metrics`)).status, 404);
      assert.equal((await request(`${base}/apart/metrics`)).status, 404, 'not on your server when it has a port of its own');
      assert.match(await scrape(`http://127.0.0.1:${elsewhere.metricsPort}/metrics`), /switchboard_connections/);
      assert.equal((await request(`${base}/metrics`)).body, 'mine');
    } finally {
      await Promise.all([sb.close(), off.close(), elsewhere.close()]);
      mine.closeAllConnections();
      await new Promise((resolve) => mine.close(resolve));
    }
  });

  it('a metrics port in use fails the start, naming the option', async () => {
    const s = await startServer({ metricsPort: 0 });
    try {
      const clash = createSwitchboard({ store: 'memory', logLevel: 'silent', port: 0, host: '127.0.0.1', metricsPort: s.server.metricsPort! });
      await assert.rejects(clash.listen(), /--metrics-port \d+ is in use/);
      await clash.close();
    } finally {
      await s.server.close();
    }
  });
});

describe('metrics options', () => {
  it('come from the environment, the token never echoed', () => {
    const c = configFromEnv({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0', METRICS_TOKEN: 't0ken' });
    assert.deepEqual([c.metrics, c.metricsPort, c.metricsHost, c.metricsToken], [true, 9464, '0.0.0.0', 't0ken']);
    assert.equal(configFromEnv({ METRICS: 'false' }).metrics, false);
    assert.deepEqual([configFromEnv({}).metricsPort, configFromEnv({}).metricsHost, configFromEnv({}).metricsToken], [undefined, '127.0.0.1', undefined]);
    assert.throws(
      () => resolveConfig({ file: { name: 'sb.json', values: { metricsToken: 1234567 } } }),
      (err: Error) => err instanceof OptionError && /--metrics-token/.test(err.message) && !err.message.includes('1234567'),
    );
  });

  it('refuse a metrics port with metrics off, or on the main port', () => {
    assert.throws(() => configFromEnv({ METRICS_PORT: '9464', METRICS: 'false' }), /--metrics-port \(from env METRICS_PORT\).*--no-metrics \(from env METRICS\)/);
    assert.throws(() => resolveConfig({ flags: { port: '9464', metricsPort: '9464' } }), /--metrics-port \(9464, from the command line\) must differ from --port/);
    assert.equal(resolveConfig({ flags: { port: '0', metricsPort: '0' } }).metricsPort, 0, 'any free port, twice');
  });

  it('compare the bearer token in full', () => {
    assert.equal(bearerMatches('Bearer abc', 'abc'), true);
    assert.equal(bearerMatches('bearer abc', 'abc'), true);
    for (const header of [undefined, '', 'abc', 'Bearer', 'Bearer ', 'Bearer ab', 'Bearer abcd', 'Basic abc', 'Bearer abc def']) assert.equal(bearerMatches(header, 'abc'), false, String(header));
  });
});

describe('what is measured', () => {
  it("counts the SQLite store's group commits, the appends they held and the batches that found the lock busy", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-metrics-'));
    const s = await startServer({ store: 'sqlite', dataDir, presenceEntries: false });
    try {
      await request(`${s.url}/api/rooms/c1`, { method: 'PUT' });
      const before = await scrape(`${s.url}/metrics`);
      assert.match(before, /^switchboard_store_lock_busy_total 0$/m);
      await Promise.all([1, 2, 3].map((n) => postJson(`${s.url}/api/rooms/c1/messages`, { text: `m${n}`, name: 'x' })));
      const after = await scrape(`${s.url}/metrics`);
      assert.equal(sample(after, 'switchboard_store_appends_total') - sample(before, 'switchboard_store_appends_total'), 3);
      const commits = sample(after, 'switchboard_store_commits_total') - sample(before, 'switchboard_store_commits_total');
      assert.ok(commits >= 1 && commits <= 3, `3 appends in 1 to 3 commits (${commits})`);
      assert.equal(sample(after, 'switchboard_store_lock_busy_total'), 0, 'one process: never busy');
    } finally {
      await s.server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('deliveries per transport grow after a publish, for a WebSocket and an SSE subscriber', async () => {
    // Presence out of the log: the joins of the subscribers would be delivered (and counted) too.
    const s = await startServer({ presenceEntries: false });
    try {
      await request(`${s.url}/api/rooms/m1`, { method: 'PUT' });
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ann`);
      await ws.opened;
      ws.send({ type: 'subscribe', id: 's1', room: 'm1' });
      await ws.next('subscribed', (f) => f.id === 's1');
      const ws2 = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=cid`);
      await ws2.opened;
      ws2.send({ type: 'subscribe', id: 's2', room: 'm1' });
      await ws2.next('subscribed', (f) => f.id === 's2');
      const sse = new SseProbe(`${s.url}/api/rooms/m1/events?name=bob`);
      await sse.ready;
      await waitFor(() => sse.events.some((e) => e.event === 'ready'), 5000, 'SSE ready');

      const before = await scrape(`${s.url}/metrics`);
      assert.match(before, /^switchboard_connections\{transport="sse"\} 1$/m);
      assert.match(before, /^switchboard_connections\{transport="websocket"\} 2$/m);
      const series = (t: string): string => `switchboard_deliveries_total{transport="${t}"}`;
      const published = (text: string): number => sample(text, 'switchboard_entries_published_total{type="message"}');

      await postJson(`${s.url}/api/rooms/m1/messages`, { text: 'counted', name: 'x' });
      await ws.next('message', (f) => f.text === 'counted');
      await ws2.next('message', (f) => f.text === 'counted');
      await waitFor(() => sse.events.some((e) => e.event === 'message'), 5000, 'SSE message');
      const after = await scrape(`${s.url}/metrics`);

      assert.equal(sample(after, series('websocket')) - sample(before, series('websocket')), 2, 'one entry to two WebSocket subscribers');
      assert.equal(sample(after, series('sse')) - sample(before, series('sse')), 1, 'one entry to one SSE subscriber');
      assert.equal(sample(after, series('long-polling')), sample(before, series('long-polling')));
      assert.equal(published(after) - published(before), 1);
      assert.match(after, /^switchboard_commands_total\{command="publish",transport="http",outcome="ok"\} 1$/m);
      assert.match(after, /^switchboard_publish_seconds_count \d+$/m);
      assert.equal(sample(after, 'switchboard_rooms'), 2, 'lobby and m1, read from the store');
      ws.close();
      ws2.close();
      sse.close();
    } finally {
      await s.server.close();
    }
  });

  it('requests past the per-turn budget are timed when they run (switchboard_request_wait_seconds), and none is left waiting once all are answered (switchboard_requests_waiting)', async () => {
    const s = await startServer({ maxConnectionsPerAddress: 1000 });
    const sockets: net.Socket[] = [];
    try {
      const before = await scrape(`${s.url}/metrics`);
      assert.match(before, /^switchboard_requests_waiting 0$/m);
      // (The scrape itself may have waited: its connection was accepted first, TurnBudget.)
      const waitedBefore = sample(before, 'switchboard_request_wait_seconds_count');
      // 300 connections, then one poll on each in one go: the server reads them in one turn,
      // runs what its 5 ms budget allows and queues the rest.
      for (let i = 0; i < 300; i++) {
        const socket = net.connect(s.port, '127.0.0.1');
        socket.setEncoding('utf8');
        sockets.push(socket);
      }
      await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
      const answered = sockets.map((socket) => new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('\r\n\r\n')) resolve(text.slice(0, 12));
        });
      }));
      for (const socket of sockets) socket.write('GET /api/rooms/lobby/poll HTTP/1.1\r\nHost: test\r\n\r\n');
      const statuses = await Promise.all(answered);
      assert.ok(statuses.every((line) => line.startsWith('HTTP/1.1 ')), 'every request answered');
      const after = await scrape(`${s.url}/metrics`);
      const waited = sample(after, 'switchboard_request_wait_seconds_count') - waitedBefore;
      assert.ok(waited >= 1 && waited <= 301, `requests that waited for a turn counted: ${waited}`);
      assert.match(after, /^switchboard_requests_waiting 0$/m, 'none waits once every one is answered');
    } finally {
      for (const socket of sockets) socket.destroy();
      await s.server.close();
    }
  });

  it("while requests of many clients stand waiting, a room that just delivered holds its next message to leave with what follows (switchboard_delivery_batches_paced_total), each once and in order; --max-delivery-delay-ms 0 never holds one", async () => {
    for (const maxDeliveryDelayMs of [250, 0]) {
      // An application hook that costs 5 ms of CPU on the polls (a slow check): 98 of them queued are some 500 ms of work.
      const hooks = {
        onConnect: ({ request: req }: { request: http.IncomingMessage | import('node:http2').Http2ServerRequest }): void => {
          if (req.headers['x-slow'] === undefined) return;
          const end = performance.now() + 5;
          while (performance.now() < end);
        },
      };
      const s = await startServer({ trustProxy: true, maxConnectionsPerAddress: 1000, maxDeliveryDelayMs, hooks });
      const sockets: net.Socket[] = [];
      await request(`${s.url}/api/rooms/busy`, { method: 'PUT' });
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=pace`);
      try {
        await ws.opened;
        ws.send({ type: 'subscribe', id: 's1', room: 'busy' });
        await ws.next('subscribed');
        for (let i = 0; i < 98; i++) sockets.push(net.connect(s.port, '127.0.0.1'));
        await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
        const answered = sockets.map((socket) => new Promise<void>((resolve) => socket.once('data', () => resolve())));
        // One poll from each of 98 client addresses (behind the trusted proxy), read in one go: they wait in 98 queues.
        for (const [i, socket] of sockets.entries()) socket.write(`GET /api/rooms/lobby/poll HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 10.9.0.${i + 1}\r\nX-Slow: 1\r\n\r\n`);
        // While the requests have stood for 150 ms: the room last delivered longer ago than that, so
        // a message leaves at once; the next, 20 ms after it, is held to leave with what follows.
        await new Promise((r) => setTimeout(r, 150));
        ws.send({ type: 'publish', id: 'p1', room: 'busy', text: 'one' });
        await ws.next('message', (f) => f.text === 'one');
        await new Promise((r) => setTimeout(r, 20));
        ws.send({ type: 'publish', id: 'p2', room: 'busy', text: 'two' });
        await ws.next('message', (f) => f.text === 'two');
        await Promise.all(answered);
        assert.deepEqual(ws.of('message').map((f) => f.text), ['one', 'two'], 'each once, in order');
        const paced = sample(await scrape(`${s.url}/metrics`), 'switchboard_delivery_batches_paced_total');
        if (maxDeliveryDelayMs === 0) assert.equal(paced, 0, 'never held with --max-delivery-delay-ms 0');
        else assert.ok(paced >= 1, `held back to leave with what came after: ${paced}`);
      } finally {
        ws.close();
        for (const socket of sockets) socket.destroy();
        await s.server.close();
      }
    }
  });

  it('a long poll woken by a publish counts one long-polling delivery', async () => {
    const s = await startServer();
    try {
      await request(`${s.url}/api/rooms/m2`, { method: 'PUT' });
      const first = (await request(`${s.url}/api/rooms/m2/poll`)).json() as { cursor: string };
      const held = request(`${s.url}/api/rooms/m2/longpoll?after=${first.cursor}`);
      const channels = (s.server.hub as unknown as { channels: Map<string, { size: number }> }).channels;
      await waitFor(() => channels.get('m2')?.size === 1, 5000, 'the poll held');
      await postJson(`${s.url}/api/rooms/m2/messages`, { text: 'wake' });
      assert.equal((await held).status, 200);
      const text = await scrape(`${s.url}/metrics`);
      assert.equal(sample(text, 'switchboard_deliveries_total{transport="long-polling"}'), 1);
    } finally {
      await s.server.close();
    }
  });

  it('counts subscribers by transport as they come and go', () => {
    const sub = (transport: Subscriber['transport']): Subscriber => ({ transport, position: 0, deliver() {}, historyReset() {} });
    const set = new SubscriberSet();
    const [a, b, c] = [sub('websocket'), sub('websocket'), sub('sse')];
    set.add(a).add(b).add(c).add(a);
    assert.deepEqual(Object.fromEntries(set.byTransport), { websocket: 2, sse: 1 });
    assert.equal(set.delete(a), true);
    assert.equal(set.delete(a), false);
    assert.deepEqual(Object.fromEntries(set.byTransport), { websocket: 1, sse: 1 });
    set.clear();
    assert.equal(set.size, 0);
    assert.deepEqual(Object.fromEntries(set.byTransport), {});
  });
});

describe('docs/operations.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const line of doc.split('\n')) {
    const m = /^\| `(switchboard_[a-z0-9_]+)` \| (counter|gauge|histogram|summary) \|([^|]*)\|/.exec(line);
    if (m) rows.set(m[1]!, { type: m[2]!, labels: [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!) });
  }

  it('documents every metric of the registry, with its type and labels', async () => {
    for (const { name, type, labels } of await registeredMetrics()) {
      if (!name.startsWith('switchboard_')) {
        assert.match(name, /^(process|nodejs)_/, `${name}: a default metric, or documented as switchboard_*`);
        assert.ok(doc.includes(`\`${name.split('_')[0]}_\``), `${name}: its prefix is documented`);
        continue;
      }
      const row = rows.get(name);
      assert.ok(row, `${name} is missing from docs/operations.md`);
      assert.equal(row.type, type, `${name}: type`);
      assert.deepEqual(row.labels, labels, `${name}: labels`);
    }
  });

  it('documents no metric the registry does not have', async () => {
    const names = new Set((await registeredMetrics()).map((m) => m.name));
    for (const name of rows.keys()) assert.ok(names.has(name), `${name} is documented but not registered`);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes']) assert.ok(names.has(name) && doc.includes(name), name);
  });
});

describe('docs/grafana-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs/grafana-dashboard.json'), 'utf8')) as {
    templating: { list: { name: string; type: string; query: unknown }[] };
    panels: { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));

  it('takes the Prometheus data source as a variable, used by every panel and query', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    assert.ok(variable, 'a datasource variable');
    assert.equal(variable.query, 'prometheus');
    for (const p of dashboard.panels) {
      assert.equal(p.datasource.uid, `\${${variable.name}}`, p.title);
      for (const t of p.targets) assert.equal(t.datasource.uid, `\${${variable.name}}`, p.title);
    }
  });

  it('has the expected panels and queries', () => {
    const expected: [RegExp, RegExp][] = [
      [/connections by transport/i, /sum by \(transport\) \(switchboard_connections\{/],
      [/deliveries\/s by transport/i, /sum by \(transport\) \(rate\(switchboard_deliveries_total\{/],
      [/publishes\/s/i, /rate\(switchboard_entries_published_total\{[^}]*type="message"/],
      [/publish latency/i, /histogram_quantile\(0\.5, sum by \(le\) \(rate\(switchboard_publish_seconds_bucket/],
      [/publish latency/i, /histogram_quantile\(0\.99, sum by \(le\) \(rate\(switchboard_publish_seconds_bucket/],
      [/errors\/s by code/i, /sum by \(code\) \(rate\(switchboard_errors_total/],
      [/commands.*by outcome/i, /sum by \(outcome\) \(rate\(switchboard_commands_total/],
      [/webhooks/i, /rate\(switchboard_webhooks_sent_total/],
      [/webhooks/i, /rate\(switchboard_webhooks_failed_total/],
      [/webhooks/i, /switchboard_webhooks_queue\{/],
      [/cpu/i, /rate\(process_cpu_seconds_total/],
      [/rss/i, /process_resident_memory_bytes/],
    ];
    for (const [title, query] of expected) {
      const panel = dashboard.panels.find((p) => title.test(p.title));
      assert.ok(panel, `a panel titled ${title}`);
      assert.ok(panel.targets.some((t) => query.test(t.expr)), `${panel.title}: a query like ${query}`);
    }
  });

  it('queries only metrics that exist', async () => {
    const metrics = new Map((await registeredMetrics()).map((m) => [m.name, m.type]));
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:switchboard|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])));
    assert.ok(used.size >= 10);
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const ok = metrics.has(name) || (base !== name && ['histogram', 'summary'].includes(metrics.get(base) ?? ''));
      assert.ok(ok, `${name} is queried by the dashboard but no metric has that name`);
    }
  });
});
