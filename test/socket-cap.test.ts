/**
 * `--max-sockets`: the cap on open TCP sockets of one process, every address together, so that
 * many addresses (or sockets that never send a request) cannot take every file descriptor the
 * store, Redis and logs need. Raw sockets from loopback aliases (127.0.0.2, ...) against a real
 * server, one process and `serve --workers 2` (round-robin: the primary hands connections to
 * the workers), and the option's checks and default.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { configFromEnv } from '../src/server/config.js';
import { OptionError, resolveConfig } from '../src/server/options.js';
import { createSwitchboard } from '../src/server/server.js';
import { capSockets, defaultMaxSockets, FALLBACK_MAX_SOCKETS, openFileLimit, RESERVED_FILES, SocketBudget, type SocketCap } from '../src/server/socket-caps.js';
import { WorkersProcess } from './fixtures/workers-process.js';
import { makeCertificate, skipWithoutOpenssl } from './helpers/certificate.js';
import { captureLogs as capture, h2Request, metricSample as sample, request, startServer, waitFor } from './helpers.js';
import { connectRaw as connect, type Raw } from './helpers/raw-socket.js';


/** Asks `/healthz` on an open socket (keep-alive); resolves when it is answered 200, rejects when the socket closes first. */
async function healthz(raw: Raw, timeoutMs = 2000): Promise<void> {
  const from = raw.received.length;
  raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => raw.received.includes('{"status":"ok"}', from) || raw.closedAfter !== undefined, timeoutMs, 'an answer to /healthz');
  assert.equal(raw.closedAfter, undefined, `closed unanswered: ${JSON.stringify(raw.received.slice(from))}`);
  assert.match(raw.received.slice(from), /^HTTP\/1\.1 200 /);
}

/** Asks `/healthz` over HTTPS on a new connection from `localAddress` with `get`; asserts it is answered 200. */
async function healthzOverTls(get: (localAddress: string) => Promise<{ status: number; body: string } | { error: string }>, localAddress: string): Promise<void> {
  const answer = await get(localAddress);
  assert.ok('status' in answer && answer.status === 200, `${localAddress}: ${JSON.stringify(answer)}`);
}



const refused = (fn: () => unknown, pattern: RegExp): void =>
  assert.throws(fn, (err: unknown) => err instanceof OptionError && pattern.test(err.message) && !err.message.includes('\n'));

describe('--max-sockets', () => {
  it('past maxSockets open sockets of every address together, a new one is closed at once, unanswered; the open ones are served; a freed slot takes a new one; the refusal is counted', async () => {
    // Far from the cap per address (1000 + 64): only the cap of the server can refuse here.
    const s = await startServer({ maxSockets: 20, maxConnections: 20, maxConnectionsPerAddress: 1000 });
    const open: Raw[] = [];
    const serverSide: net.Socket[] = [];
    const onConnection = (so: net.Socket): void => void (so.destroyed || serverSide.push(so));
    s.server.http.on('connection', onConnection);
    try {
      // 20 sockets, each from an address of its own, that send nothing.
      for (let i = 0; i < 20; i++) open.push(await connect(s.port, `127.0.0.${i + 2}`));
      await waitFor(() => serverSide.length === 20, 3000, 'the server to accept 20 sockets');

      const extra = await connect(s.port, '127.0.0.30');
      await waitFor(() => extra.closedAfter !== undefined, 3000, 'the 21st socket to be closed by the server');
      assert.equal(extra.received, '', 'the refused socket got no answer');
      assert.equal(serverSide.length, 20, 'the refused socket was never served');

      // The ones held are served as ever.
      await healthz(open[0]!);
      await healthz(open[19]!);
      assert.ok(open.every((r) => r.closedAfter === undefined));

      // Five go: five slots are free again (once the server saw them close).
      for (const r of open.splice(0, 5)) r.socket.destroy();
      await waitFor(() => serverSide.filter((so) => !so.destroyed).length === 15, 3000, 'the server to see 5 sockets close');
      const again = await connect(s.port, '127.0.0.31');
      open.push(again);
      await healthz(again);

      // Scraped on a socket of its own (the 17th open one).
      const metrics = await request(`${s.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.equal(sample(metrics.body, 'switchboard_sockets_refused_total'), 1, 'one refusal counted');
      assert.equal(sample(metrics.body, 'switchboard_errors_total{code="TOO_MANY_CONNECTIONS_FROM_YOU"}'), 0, 'not counted as the cap per address');
    } finally {
      s.server.http.off('connection', onConnection);
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it('the cap per address still holds under it: --max-connections-per-address + 64 sockets of one address', async () => {
    const s = await startServer({ maxSockets: 1000, maxConnections: 1000, maxConnectionsPerAddress: 1 });
    const open: Raw[] = [];
    try {
      for (let i = 0; i < 65; i++) open.push(await connect(s.port, '127.0.0.2'));
      await healthz(open[64]!);
      const extra = await connect(s.port, '127.0.0.2');
      open.push(extra);
      await waitFor(() => extra.closedAfter !== undefined, 3000, 'the 66th socket of one address to be closed');
      // Another address is not refused.
      const other = await connect(s.port, '127.0.0.3');
      open.push(other);
      await healthz(other);
      const metrics = await request(`${s.url}/metrics`);
      assert.equal(sample(metrics.body, 'switchboard_errors_total{code="TOO_MANY_CONNECTIONS_FROM_YOU"}'), 1);
      assert.equal(sample(metrics.body, 'switchboard_sockets_refused_total'), 0);
    } finally {
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it('over TLS (the HTTP/2 secure server) too, before the handshake: a socket past the cap is closed at once, and once one goes an HTTP/2 client is served', { skip: skipWithoutOpenssl() }, async () => {
    const cert = makeCertificate();
    const s = await startServer({ tlsCert: cert.cert, tlsKey: cert.key, maxSockets: 3, maxConnections: 3 });
    const open: Raw[] = [];
    const serverSide: net.Socket[] = [];
    const onConnection = (so: net.Socket): void => void (so.destroyed || serverSide.push(so));
    s.server.http.on('connection', onConnection);
    let session: http2.ClientHttp2Session | undefined;
    try {
      for (let i = 0; i < 3; i++) open.push(await connect(s.port, `127.0.0.${i + 2}`));
      await waitFor(() => serverSide.length === 3, 3000, 'the server to accept 3 sockets');
      const extra = await connect(s.port, '127.0.0.30');
      await waitFor(() => extra.closedAfter !== undefined, 3000, 'the 4th socket to be closed by the server');
      assert.equal(extra.received, '');

      open.shift()!.socket.destroy();
      await waitFor(() => serverSide.filter((so) => !so.destroyed).length === 2, 3000, 'the server to see a socket close');
      session = http2.connect(`https://localhost:${s.port}`, { ca: readFileSync(cert.cert) });
      session.on('error', () => {});
      const get = (path: string): Promise<{ status: number; body: string }> => h2Request(session!, { ':path': path });
      assert.equal((await get('/healthz')).status, 200);
      assert.equal(sample((await get('/metrics')).body, 'switchboard_sockets_refused_total'), 1);
    } finally {
      s.server.http.off('connection', onConnection);
      session?.destroy();
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it('over TLS, new sockets of one address past --tls-handshake-rate are closed before their handshake, unanswered and counted; other addresses are served, and the address again once its rate allows', { skip: skipWithoutOpenssl() }, async () => {
    const cert = makeCertificate();
    const ca = readFileSync(cert.cert);
    // 1 a second, burst 10.
    const s = await startServer({ tlsCert: cert.cert, tlsKey: cert.key, tlsHandshakeRatePerSecond: 1 });
    /** One HTTPS request on a new connection (a full handshake) from `localAddress`: its status, or the error's code. */
    const get = (localAddress: string, path = '/healthz'): Promise<{ status: number; body: string } | { error: string }> =>
      new Promise((resolve) => {
        const req = https.get({ host: '127.0.0.1', servername: 'localhost', port: s.port, path, localAddress, ca, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      });
    const open: Raw[] = [];
    try {
      // Ten sockets that never start their handshake take the burst of 127.0.0.2.
      for (let i = 0; i < 10; i++) open.push(await connect(s.port, '127.0.0.2'));
      await healthzOverTls(get, '127.0.0.3');
      const extra = await connect(s.port, '127.0.0.2');
      open.push(extra);
      await waitFor(() => extra.closedAfter !== undefined, 3000, 'the 11th socket of 127.0.0.2 to be closed');
      assert.equal(extra.received, '');
      assert.ok(extra.closedAfter! < 1000, `closed after ${extra.closedAfter} ms`);
      // A real client of that address: refused before TLS was spoken.
      const refusedGet = await get('127.0.0.2');
      assert.ok('error' in refusedGet && /ECONNRESET|EPIPE/.test(refusedGet.error), JSON.stringify(refusedGet));
      // Other addresses are not: a socket of 127.0.0.4 opens and completes its handshake.
      await healthzOverTls(get, '127.0.0.4');
      const metrics = await get('127.0.0.4', '/metrics');
      assert.ok('body' in metrics);
      assert.equal(sample(metrics.body, 'switchboard_errors_total{code="RATE_LIMITED"}'), 2);
      assert.equal(sample(metrics.body, 'switchboard_errors_total{code="TOO_MANY_CONNECTIONS_FROM_YOU"}'), 0);
      // A unit a second: 127.0.0.2 is served again.
      await new Promise((r) => setTimeout(r, 1100));
      await healthzOverTls(get, '127.0.0.2');
      // The ten idle sockets were accepted: still open (the handshake timeout is longer).
      assert.equal(open.slice(0, 10).filter((r) => r.closedAfter !== undefined).length, 0);
    } finally {
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it("a refused socket never reaches the server's connection listeners that came before the caps (node's HTTP parser, its TLS socket): those of a socket let in all run, in their order", async () => {
    const server = net.createServer();
    const calls: string[] = [];
    server.on('connection', (so: net.Socket) => calls.push(`first ${so.remotePort}`));
    server.on('connection', (so: net.Socket) => calls.push(`second ${so.remotePort}`));
    const refusedBy: SocketCap[] = [];
    let allowed = 1;
    capSockets(server, { budget: new SocketBudget(10), perAddress: 2, rate: () => allowed-- > 0, onRefused: (_so, cap) => refusedBy.push(cap) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const open: Raw[] = [];
    try {
      const first = await connect(port, '127.0.0.2');
      open.push(first);
      await waitFor(() => calls.length === 2, 3000, 'the first socket to reach both listeners');
      const port1 = first.socket.localPort;
      assert.deepEqual(calls, [`first ${port1}`, `second ${port1}`]);
      const second = await connect(port, '127.0.0.2');
      open.push(second);
      await waitFor(() => second.closedAfter !== undefined, 3000, 'the socket past the rate to be closed');
      assert.deepEqual(refusedBy, ['rate']);
      assert.equal(calls.length, 2, 'the refused socket reached no listener');
    } finally {
      for (const r of open) r.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('--tls-handshake-rate counts nothing without TLS: a plain server takes a burst of sockets from one address', async () => {
    const s = await startServer({ tlsHandshakeRatePerSecond: 1 });
    const open: Raw[] = [];
    try {
      for (let i = 0; i < 30; i++) open.push(await connect(s.port, '127.0.0.2'));
      for (const r of open) await healthz(r);
    } finally {
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it('with --workers 2 (the primary hands each connection to a worker), each worker caps its own sockets: the first refused socket is closed at once, the others are served', { skip: existsSync('dist/src/cli/index.js') ? false : 'run `npm run build` first', timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-socket-cap-'));
    const server = await WorkersProcess.start(['--workers', '2', '--worker-accept', 'primary', '--max-sockets', '5', '--max-connections', '5', '--data-dir', dataDir]);
    const open: Raw[] = [];
    try {
      // One at a time, each answered before the next, until one is refused: the first five at
      // least are (one worker's cap), ten at most (both workers' caps).
      let refusedOne: Raw | undefined;
      for (let i = 0; i < 12 && !refusedOne; i++) {
        const r = await connect(server.port, `127.0.0.${i + 2}`);
        r.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await waitFor(() => r.received.includes('{"status":"ok"}') || r.closedAfter !== undefined, 2000, `socket ${i + 1} to be answered or closed`);
        if (r.closedAfter === undefined) open.push(r);
        else refusedOne = r;
      }
      assert.ok(refusedOne, `no socket refused; ${open.length} open`);
      assert.ok(open.length >= 5 && open.length <= 10, `${open.length} sockets open before the first refusal`);
      assert.equal(refusedOne.received, '', 'the refused socket got no answer');
      assert.ok(refusedOne.closedAfter! < 1000, `closed after ${refusedOne.closedAfter} ms`);
      for (const r of open) await healthz(r);
      await server.waitForLog((l) => l.msg === 'connection refused: this process holds --max-sockets open sockets', 5000, 'the refusal in the log');
    } finally {
      for (const r of open) r.socket.destroy();
      await server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("the metrics port (--metrics-port) draws on the same cap: the main port leaves it a few sockets, its sockets count against the main port's, and past the cap either port closes a new socket at once, unanswered, counted", async () => {
    // 6 sockets for the process; the main port leaves the metrics port what --max-connections leaves free, 2 (16 at most).
    const s = await startServer({ maxSockets: 6, maxConnections: 4, maxConnectionsPerAddress: 1000, metricsPort: 0 });
    const metricsPort = s.server.metricsPort!;
    const main: Raw[] = [];
    const ops: Raw[] = [];
    const serverSide: net.Socket[] = [];
    const onConnection = (so: net.Socket): void => void (so.destroyed || serverSide.push(so));
    s.server.http.on('connection', onConnection);
    /** Connects and asks /healthz: answered, so accepted and counted. */
    const held = async (port: number, address: string, into: Raw[]): Promise<void> => {
      const r = await connect(port, address);
      into.push(r);
      await healthz(r);
    };
    const closedAtOnce = async (port: number, address: string, what: string): Promise<void> => {
      const r = await connect(port, address);
      await waitFor(() => r.closedAfter !== undefined, 3000, `${what} to be closed by the server`);
      assert.equal(r.received, '', `${what}: closed unanswered`);
    };
    try {
      for (let i = 0; i < 4; i++) await held(s.port, `127.0.0.${i + 2}`, main);
      await closedAtOnce(s.port, '127.0.0.30', 'a 5th socket on the main port');
      // What the main port left: the probes still get in, up to the cap of the process.
      for (let i = 0; i < 2; i++) await held(metricsPort, `127.0.0.${i + 10}`, ops);
      await closedAtOnce(metricsPort, '127.0.0.31', 'a 7th socket, on the metrics port');

      // Two of the main port's go: four open, the metrics port's two among them, so the main port takes no more.
      for (const r of main.splice(0, 2)) r.socket.destroy();
      await waitFor(() => serverSide.filter((so) => !so.destroyed).length === 2, 3000, 'the server to see 2 sockets close');
      await closedAtOnce(s.port, '127.0.0.32', "a socket on the main port, the metrics port's counted");
      for (const r of [...main, ...ops]) await healthz(r);

      ops.shift()!.socket.destroy();
      let metrics: { status: number; body: string } | undefined;
      // Refused while the server has not yet seen it close (and counted).
      let refusedMeanwhile = 0;
      for (let tries = 0; metrics === undefined && tries < 40; tries++) {
        metrics = await request(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => {
          refusedMeanwhile++;
          return undefined;
        });
        if (metrics === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(metrics?.status, 200);
      assert.equal(sample(metrics!.body, 'switchboard_sockets_refused_total'), 3 + refusedMeanwhile, 'the refusals of either port counted');
    } finally {
      s.server.http.off('connection', onConnection);
      for (const r of [...main, ...ops]) r.socket.destroy();
      await s.server.close();
    }
  });

  it("warns of the open-file limit when it listens, not under attach or handler: the host's server takes the sockets there, and Switchboard caps none of them", async (t) => {
    const limit = openFileLimit();
    if (limit === undefined || limit > 10_000_000) return t.skip('no open-file limit to warn of here');
    const warnings = (lines: Record<string, unknown>[]): unknown[] => lines.filter((l) => l.level === 40 && /open-file limit/.test(String(l.msg))).map((l) => l.msg);
    // The cap as big as the limit: nothing left to the store, Redis and logs, which listen warns of.
    const options = { port: 0, host: '127.0.0.1', store: 'memory' as const, maxSockets: limit, maxConnections: Math.min(limit, 10_000) };

    const attached = capture();
    const sb = createSwitchboard({ ...options, logger: attached.logger });
    const host = http.createServer();
    try {
      sb.attach(host);
      await sb.start();
      await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
      assert.equal((await request(`http://127.0.0.1:${(host.address() as net.AddressInfo).port}/healthz`)).status, 200);
      assert.deepEqual(warnings(attached.lines), [], 'no warning under attach');
    } finally {
      host.closeAllConnections();
      host.close();
      await sb.close();
    }

    const listening = capture();
    const s = await startServer({ ...options, logger: listening.logger });
    await s.server.close();
    assert.equal(warnings(listening.lines).length, 1, 'the warning, under listen');
  });

  it('is a whole number from 1, at least --max-connections, from a flag, the environment, a file or createSwitchboard', () => {
    assert.equal(resolveConfig({}).maxSockets, undefined);
    assert.equal(resolveConfig({ flags: { maxSockets: '20000' } }).maxSockets, 20_000);
    assert.equal(configFromEnv({ MAX_SOCKETS: '15000' }).maxSockets, 15_000);
    refused(() => configFromEnv({ MAX_SOCKETS: 'many' }), /^--max-sockets \(env MAX_SOCKETS\): "many" is not valid, expected a whole number from 1 to 10000000$/);
    refused(() => resolveConfig({ flags: { maxSockets: '0' } }), /^--max-sockets: "0" is not valid/);
    refused(() => resolveConfig({ file: { name: 'c.json', values: { maxSockets: 2.5 } } }), /^--max-sockets \(file c\.json, key "maxSockets"\): 2\.5 is not valid/);
    refused(() => configFromEnv({ MAX_SOCKETS: '5000' }), /^--max-sockets \(5000, from env MAX_SOCKETS\) must be at least --max-connections \(10000, from default\)/);
    refused(() => createSwitchboard({ maxSockets: 50, maxConnections: 100, logLevel: 'silent' }), /^--max-sockets \(50, from createSwitchboard option maxSockets\) must be at least --max-connections \(100, from createSwitchboard option maxConnections\)/);
    refused(() => createSwitchboard({ maxSockets: -1, logLevel: 'silent' }), /^createSwitchboard option maxSockets: -1 is not valid/);
  });

  it('by default is the open-file limit less what the store, Redis and logs keep; where the limit is unknown, a fixed cap or --max-connections and a margin', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-limits-'));
    try {
      const limits = path.join(dir, 'limits');
      writeFileSync(limits, 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                40000                files     \n');
      assert.equal(openFileLimit(limits), 20_000);
      writeFileSync(limits, 'Max open files            unlimited            unlimited            files     \n');
      assert.equal(openFileLimit(limits), undefined);
      assert.equal(openFileLimit(path.join(dir, 'none')), undefined);
      if (process.platform === 'linux') assert.ok(openFileLimit()! > 0, 'this process has a limit');

      assert.equal(defaultMaxSockets(10_000, 20_000), 20_000 - RESERVED_FILES);
      // A limit too small for --max-connections still wins: past it the store cannot open a file either.
      assert.equal(defaultMaxSockets(10_000, 1024), 1024 - RESERVED_FILES);
      assert.equal(defaultMaxSockets(10_000, 100), 1);
      assert.equal(defaultMaxSockets(10_000, undefined), FALLBACK_MAX_SOCKETS);
      assert.equal(defaultMaxSockets(50_000, undefined), 50_000 + 1024);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
