import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../src/server/logger.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from '../src/server/webhooks/webhook-dispatcher.js';
import type { WebhookEvent } from '../src/server/webhooks/webhook-event.js';
import { signWebhook, verifyWebhook } from '../src/server/webhooks/webhook-signature.js';
import { captureLogs, waitFor } from './helpers.js';

const SECRET = 'whsec_test';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  event: WebhookEvent;
  at: number;
}

/** A real HTTP receiver; `answer` decides each response (the nth request, counting from 0). */
async function receiver(t: TestContext, answer: (n: number, res: http.ServerResponse) => void = (_n, res) => res.end()): Promise<{ url: string; requests: Received[] }> {
  const requests: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = requests.length;
      requests.push({ headers: req.headers, body, event: JSON.parse(body) as WebhookEvent, at: Date.now() });
      answer(n, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests };
}

function status(code: number, headers: Record<string, string> = {}) {
  return (res: http.ServerResponse): void => {
    res.writeHead(code, headers).end();
  };
}

/** A dispatcher with fast retries, its own registry, silent unless a logger is given. */
function dispatcher(t: TestContext, url: string, options: Partial<WebhookDispatcherOptions> = {}): { hooks: WebhookDispatcher; registry: Registry } {
  const registry = new Registry();
  const hooks = new WebhookDispatcher({ url, secret: SECRET, backoffMs: 5, logger: createLogger('silent', false), registry, ...options });
  t.after(() => hooks.close(0));
  return { hooks, registry };
}

/** The sum of a metric over its labels. */
async function metric(registry: Registry, name: string): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.reduce((sum, v) => sum + v.value, 0);
}

async function counts(registry: Registry): Promise<{ sent: number; failed: number; dropped: number; queued: number }> {
  return {
    sent: await metric(registry, 'switchboard_webhooks_sent_total'),
    failed: await metric(registry, 'switchboard_webhooks_failed_total'),
    dropped: await metric(registry, 'switchboard_webhooks_dropped_total'),
    queued: await metric(registry, 'switchboard_webhooks_queue'),
  };
}

/** A logger that keeps its lines, debug ones too. */
const capture = (): ReturnType<typeof captureLogs> => captureLogs('debug');

function header(r: Received, name: string): string {
  const value = r.headers[name];
  assert.equal(typeof value, 'string', `header ${name}`);
  return value as string;
}

describe('webhooks: delivery', () => {
  it('POSTs the event as JSON with its headers and a signature a receiver can verify', async (t) => {
    const rx = await receiver(t);
    const { hooks, registry } = dispatcher(t, rx.url);
    hooks.emit('room.created', { room: 'lobby' });
    await hooks.close();

    assert.equal(rx.requests.length, 1);
    const [r] = rx.requests as [Received];
    assert.equal(r.event.type, 'room.created');
    assert.deepEqual(r.event.data, { room: 'lobby' });
    assert.match(r.event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(Math.abs(r.event.ts - Date.now()) < 5000);
    assert.equal(header(r, 'content-type'), 'application/json');
    assert.equal(header(r, 'user-agent'), 'switchboard-webhooks');
    assert.equal(header(r, 'x-switchboard-event'), 'room.created');
    assert.equal(header(r, 'x-switchboard-id'), r.event.id);
    const timestamp = header(r, 'x-switchboard-timestamp');
    assert.match(timestamp, /^\d+$/);
    assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 5);
    const signature = header(r, 'x-switchboard-signature');
    assert.ok(verifyWebhook(SECRET, { signature, timestamp }, r.body));
    assert.equal(signature, `v1=${createHmac('sha256', SECRET).update(`${timestamp}.${r.body}`).digest('hex')}`);
    assert.deepEqual(await counts(registry), { sent: 1, failed: 0, dropped: 0, queued: 0 });
  });

  it('retries a 500 with the same id, and counts one sent', async (t) => {
    const rx = await receiver(t, (n, res) => status(n < 2 ? 500 : 200)(res));
    const { hooks, registry } = dispatcher(t, rx.url);
    hooks.emit('member.online', { member: 'ada' });
    await hooks.close();

    assert.equal(rx.requests.length, 3);
    assert.equal(new Set(rx.requests.map((r) => r.event.id)).size, 1);
    for (const r of rx.requests) {
      assert.equal(header(r, 'x-switchboard-id'), r.event.id);
      assert.ok(verifyWebhook(SECRET, { signature: header(r, 'x-switchboard-signature'), timestamp: header(r, 'x-switchboard-timestamp') }, r.body));
    }
    assert.deepEqual(await counts(registry), { sent: 1, failed: 0, dropped: 0, queued: 0 });
  });

  it('does not retry a 400, and counts it failed', async (t) => {
    const rx = await receiver(t, (_n, res) => status(400)(res));
    const { hooks, registry } = dispatcher(t, rx.url);
    hooks.emit('room.deleted', { room: 'r' });
    await hooks.close();

    assert.equal(rx.requests.length, 1);
    assert.deepEqual(await counts(registry), { sent: 0, failed: 1, dropped: 0, queued: 0 });
  });

  it('waits as long as a 429 Retry-After says', async (t) => {
    const rx = await receiver(t, (n, res) => (n === 0 ? status(429, { 'retry-after': '1' })(res) : status(204)(res)));
    const { hooks, registry } = dispatcher(t, rx.url);
    hooks.emit('member.offline', { member: 'ada' });
    await hooks.close(3000);

    assert.equal(rx.requests.length, 2);
    const gap = rx.requests[1]!.at - rx.requests[0]!.at;
    assert.ok(gap >= 950, `retried after ${gap} ms, not the 1 s asked`);
    assert.equal((await counts(registry)).sent, 1);
  });

  it('retries a request that times out', async (t) => {
    const rx = await receiver(t, (n, res) => (n === 0 ? undefined : status(200)(res)));
    const { hooks, registry } = dispatcher(t, rx.url, { timeoutMs: 100 });
    hooks.emit('room.created', { room: 'slow' });
    await hooks.close();

    assert.equal(rx.requests.length, 2);
    assert.equal(rx.requests[0]!.event.id, rx.requests[1]!.event.id);
    assert.deepEqual(await counts(registry), { sent: 1, failed: 0, dropped: 0, queued: 0 });
  });

  it('takes a response that came in time while this process was busy past the timeout: sent once, not twice', async (t) => {
    // The receiver is another process, so it answers while this one is held. It tells (a line on
    // stdout) when a POST came and answers it 100 ms later; this process is then held 700 ms, past
    // the 300 ms timeout, and the answer waits to be read when the loop comes back.
    const child = spawn(process.execPath, ['-e', `
      const http = require('node:http');
      let n = 0;
      const server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          process.stdout.write('got ' + ++n + '\\n');
          setTimeout(() => res.end(), 100);
        });
      });
      server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill());
    const lines: string[] = [];
    const line = async (pattern: RegExp): Promise<RegExpExecArray> => {
      await waitFor(() => lines.some((l) => pattern.test(l)), 5000, `the receiver's line ${pattern}`);
      return pattern.exec(lines.find((l) => pattern.test(l))!)!;
    };
    child.stdout!.setEncoding('utf8').on('data', (c: string) => lines.push(...c.split('\n').filter(Boolean)));
    const port = Number((await line(/^port (\d+)$/))[1]);
    const { hooks, registry } = dispatcher(t, `http://127.0.0.1:${port}/hook`, { timeoutMs: 300 });
    hooks.emit('room.created', { room: 'busy' });
    await line(/^got 1$/);
    const until = performance.now() + 700;
    while (performance.now() < until);
    await hooks.close(3000);
    await new Promise((r) => setTimeout(r, 200)); // the receiver's line of a second POST, had there been one

    assert.deepEqual(await counts(registry), { sent: 1, failed: 0, dropped: 0, queued: 0 });
    assert.deepEqual(lines.filter((l) => l.startsWith('got')), ['got 1'], 'the event was sent again: the answer that came in time was taken for a timeout');
  });

  it('retries an unreachable receiver, then gives up after maxAttempts', async (t) => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));

    const { logger, lines } = capture();
    const { hooks, registry } = dispatcher(t, `http://127.0.0.1:${port}/`, { maxAttempts: 3, logger });
    hooks.emit('room.created', { room: 'r' });
    await hooks.close();

    const retries = lines.filter((l) => l.msg === 'webhook attempt failed: retrying');
    assert.deepEqual(retries.map((l) => l.attempt), [1, 2]);
    assert.equal(retries[0]!.reason, 'ECONNREFUSED');
    const givenUp = lines.filter((l) => l.msg === 'webhook given up after its last attempt');
    assert.equal(givenUp.length, 1);
    assert.equal(givenUp[0]!.attempts, 3);
    assert.equal(givenUp[0]!.level, 40);
    assert.deepEqual(await counts(registry), { sent: 0, failed: 1, dropped: 0, queued: 0 });
  });
});

describe('webhooks: what is sent', () => {
  it('drops message.published unless it is enabled', async (t) => {
    const rx = await receiver(t);
    const byDefault = dispatcher(t, rx.url).hooks;
    byDefault.emit('message.published', { text: 'not sent' });
    byDefault.emit('room.created', { room: 'sent' });
    await byDefault.close();
    assert.deepEqual(rx.requests.map((r) => r.event.type), ['room.created']);

    const optedIn = dispatcher(t, rx.url, { events: new Set(['message.published'] as const) }).hooks;
    optedIn.emit('message.published', { text: 'sent' });
    optedIn.emit('room.created', { room: 'not enabled here' });
    await optedIn.close();
    assert.deepEqual(rx.requests.map((r) => r.event.type), ['room.created', 'message.published']);
  });

  it('keeps at most maxQueue events, dropping the oldest, with one warning', async (t) => {
    const held: http.ServerResponse[] = [];
    let released = false;
    const rx = await receiver(t, (_n, res) => (released ? status(200)(res) : held.push(res)));
    const { logger, lines } = capture();
    const { hooks, registry } = dispatcher(t, rx.url, { maxQueue: 5, concurrency: 2, logger });

    hooks.emit('room.created', { n: -2 });
    hooks.emit('room.created', { n: -1 });
    await waitFor(() => held.length === 2, 2000, 'two requests in flight');
    for (let n = 0; n < 20; n++) hooks.emit('room.created', { n });

    assert.deepEqual(await counts(registry), { sent: 0, failed: 0, dropped: 15, queued: 5 });
    const warnings = lines.filter((l) => l.msg === 'webhook queue full: oldest events dropped');
    assert.equal(warnings.length, 1, 'rate-limited to one line');
    assert.equal(warnings[0]!.dropped, 1);

    released = true;
    for (const res of held) status(200)(res);
    await hooks.close();
    assert.deepEqual(rx.requests.map((r) => r.event.data.n).sort((a, b) => Number(a) - Number(b)), [-2, -1, 15, 16, 17, 18, 19]);
    assert.deepEqual(await counts(registry), { sent: 7, failed: 0, dropped: 15, queued: 0 });
    const summary = lines.filter((l) => l.msg === 'webhook queue full: oldest events dropped');
    assert.deepEqual(summary.map((l) => l.dropped), [1, 14], 'the rest is logged at close');
  });
});

describe('webhooks: close', () => {
  it('flushes what is queued, then drops what is emitted later', async (t) => {
    const rx = await receiver(t, (_n, res) => setTimeout(() => status(200)(res), 5));
    const { hooks, registry } = dispatcher(t, rx.url, { concurrency: 1 });
    for (let n = 0; n < 10; n++) hooks.emit('member.online', { n });
    await hooks.close();
    assert.deepEqual(rx.requests.map((r) => r.event.data.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'FIFO with one in flight');
    hooks.emit('member.online', { n: 10 });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(rx.requests.length, 10);
    assert.deepEqual(await counts(registry), { sent: 10, failed: 0, dropped: 1, queued: 0 });
  });

  it('gives up at its deadline and says how many were left', async (t) => {
    const rx = await receiver(t, () => {});
    const { logger, lines } = capture();
    const { hooks, registry } = dispatcher(t, rx.url, { concurrency: 1, logger });
    for (let n = 0; n < 3; n++) hooks.emit('room.created', { n });
    const start = Date.now();
    await hooks.close(100);
    const took = Date.now() - start;
    assert.ok(took >= 90 && took < 1000, `closed in ${took} ms`);
    const deadline = lines.find((l) => l.msg === 'webhook close deadline reached: undelivered events dropped');
    assert.equal(deadline?.left, 3);
    assert.deepEqual(await counts(registry), { sent: 0, failed: 0, dropped: 3, queued: 0 });
    assert.equal(rx.requests.length, 1);
  });
});

describe('webhooks: verifyWebhook', () => {
  const body = JSON.stringify({ id: 'x', type: 'room.created', ts: 1, data: {} });
  const now = Date.now();
  const timestamp = Math.floor(now / 1000);
  const signature = signWebhook(SECRET, timestamp, body);

  it('accepts a good signature within the tolerance', () => {
    assert.ok(verifyWebhook(SECRET, { signature, timestamp: String(timestamp) }, body, 300, now));
    assert.ok(verifyWebhook(SECRET, { signature, timestamp: String(timestamp) }, Buffer.from(body), 300, now + 299_000));
  });

  it('rejects a wrong secret, a tampered body, an old or future timestamp and malformed headers', () => {
    const ts = String(timestamp);
    assert.equal(verifyWebhook('other', { signature, timestamp: ts }, body, 300, now), false);
    assert.equal(verifyWebhook(SECRET, { signature, timestamp: ts }, body.replace('room.created', 'room.deleted'), 300, now), false);
    assert.equal(verifyWebhook(SECRET, { signature, timestamp: ts }, body, 300, now + 301_000), false);
    assert.equal(verifyWebhook(SECRET, { signature, timestamp: ts }, body, 300, now - 301_000), false);
    const old = timestamp - 3600;
    assert.equal(verifyWebhook(SECRET, { signature: signWebhook(SECRET, old, body), timestamp: String(old) }, body, 300, now), false);
    assert.equal(verifyWebhook(SECRET, { signature: signature.slice(0, -2), timestamp: ts }, body, 300, now), false);
    assert.equal(verifyWebhook(SECRET, { signature: signature.replace('v1=', 'v0='), timestamp: ts }, body, 300, now), false);
    assert.equal(verifyWebhook(SECRET, { signature, timestamp: `${ts}.0` }, body, 300, now), false);
    assert.equal(verifyWebhook(SECRET, { signature, timestamp: '' }, body, 300, now), false);
  });
});
