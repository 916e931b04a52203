/**
 * `--proxy-protocol`: behind TCP load balancers, a connection of theirs begins with a PROXY
 * protocol header (v1 text, v2 binary) naming its client, whose address the connection then has
 * for the caps, budgets and logs. Raw sockets from loopback aliases (127.0.0.2 plays the balancer)
 * against a real server, plain and TLS (HTTP/1.1 and HTTP/2), and `serve --workers 2`, where the
 * primary hands each connection on unread.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Command, IPv4Address, IPv4ProxyAddress, IPv6Address, IPv6ProxyAddress, TransportProtocol, UnspecProxyAddress, V2ProxyProtocol } from 'proxy-protocol-js';
import { OptionError, resolveConfig } from '../src/server/options.js';
import { fromProxy, parseProxyHeader, PROXY_HEADER_MAX_BYTES, proxyPeers, V2_SIGNATURE } from '../src/server/proxy-protocol.js';
import { WorkersProcess } from './fixtures/workers-process.js';
import { makeCertificate, skipWithoutOpenssl } from './helpers/certificate.js';
import { captureLogs, metricSample, startServer, waitFor } from './helpers.js';
import { connectRaw as connect, type Raw } from './helpers/raw-socket.js';

const v1 = (client: string, family: 'TCP4' | 'TCP6' = 'TCP4'): string => `PROXY ${family} ${client} ${family === 'TCP4' ? '10.0.0.1' : 'fd00::1'} 40000 3000\r\n`;
const v2 = (client: [number, number, number, number]): Buffer =>
  Buffer.from(new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, new IPv4ProxyAddress(IPv4Address.createFrom(client), 40000, IPv4Address.createFrom([10, 0, 0, 1]), 3000)).build());
const v2Local = (): Buffer => Buffer.from(new V2ProxyProtocol(Command.LOCAL, TransportProtocol.UNSPEC, new UnspecProxyAddress()).build());
const v2Six = (): Buffer =>
  Buffer.from(
    new V2ProxyProtocol(
      Command.PROXY,
      TransportProtocol.STREAM,
      new IPv6ProxyAddress(IPv6Address.createFrom([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07]), 40000, IPv6Address.createFrom(new Array<number>(16).fill(0)), 3000),
    ).build(),
  );
const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';


/** Sends `chunks` one write each, then waits for the answer of /healthz (200) or the close. */
async function ask(raw: Raw, ...chunks: (string | Buffer)[]): Promise<void> {
  for (const c of chunks) {
    raw.socket.write(c);
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(() => /\r\n\r\n/.test(raw.received) || raw.closedAfter !== undefined, 3000, 'an answer or a close');
}


describe('PROXY protocol headers (parseProxyHeader)', () => {
  it('reads v1 (TCP4, TCP6, UNKNOWN) and v2 (IPv4, IPv6, LOCAL), says how many bytes each took, and waits for more while the start can still be one', () => {
    const rest = Buffer.from(HEALTHZ);
    assert.deepEqual(parseProxyHeader(Buffer.concat([Buffer.from(v1('203.0.113.7')), rest])), { bytes: v1('203.0.113.7').length, peer: { address: '203.0.113.7', port: 40000, family: 'IPv4' } });
    assert.deepEqual(parseProxyHeader(Buffer.from(v1('2001:DB8:0:0::7', 'TCP6'))), { bytes: v1('2001:DB8:0:0::7', 'TCP6').length, peer: { address: '2001:db8:0:0::7', port: 40000, family: 'IPv6' } });
    // An IPv4 client written as IPv6 stays dotted, as node writes such a peer (clientOf counts it as 1.2.3.4).
    assert.deepEqual(parseProxyHeader(Buffer.from(v1('::ffff:1.2.3.4', 'TCP6'))), { bytes: v1('::ffff:1.2.3.4', 'TCP6').length, peer: { address: '::ffff:1.2.3.4', port: 40000, family: 'IPv6' } });
    const mapped = Buffer.from(
      new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, new IPv6ProxyAddress(IPv6Address.createFrom([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]), 1, IPv6Address.createFrom(new Array<number>(16).fill(0)), 2)).build(),
    );
    assert.deepEqual(parseProxyHeader(mapped), { bytes: 52, peer: { address: '::ffff:1.2.3.4', port: 1, family: 'IPv6' } });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN whatever follows\r\nGET')), { bytes: 32, peer: undefined });
    assert.deepEqual(parseProxyHeader(Buffer.concat([v2([198, 51, 100, 9]), rest])), { bytes: 28, peer: { address: '198.51.100.9', port: 40000, family: 'IPv4' } });
    assert.deepEqual(parseProxyHeader(v2Six()), { bytes: 52, peer: { address: '2001:db8::7', port: 40000, family: 'IPv6' } });
    assert.deepEqual(parseProxyHeader(v2Local()), { bytes: 16, peer: undefined });
    for (const part of ['P', 'PROXY', 'PROXY TCP4 203.0.113.7 10.0.0.1 4000']) assert.equal(parseProxyHeader(Buffer.from(part)), 'more', part);
    for (const n of [1, 12, 15, 20]) assert.equal(parseProxyHeader(v2([198, 51, 100, 9]).subarray(0, n)), 'more', `${n} bytes of v2`);
  });

  it('refuses what cannot be a header at once: a request, a v1 line without CRLF in 107 bytes, bad addresses or ports, a v2 header longer than it reads', () => {
    const error = (data: Buffer): string => {
      const r = parseProxyHeader(data);
      assert.ok(typeof r === 'object' && 'error' in r, `${JSON.stringify(data.toString('latin1'))}: ${JSON.stringify(r)}`);
      return r.error;
    };
    assert.match(error(Buffer.from(HEALTHZ)), /no PROXY protocol header/);
    assert.match(error(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), /107 bytes/);
    assert.match(error(Buffer.from('PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n')), /bad source address/);
    assert.match(error(Buffer.from('PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n')), /bad source address/);
    assert.match(error(Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 70000 2\r\n')), /bad source address or port/);
    // A zone (`%eth0`) is no balancer's peer; the URL parser threw on it, in a socket's event, which ended the process.
    assert.match(error(Buffer.from('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n')), /bad source address/);
    assert.match(error(Buffer.from('PROXY SCTP 1.2.3.4 10.0.0.1 1 2\r\n')), /malformed version 1/);
    const long = Buffer.from(v2([1, 2, 3, 4]));
    long.writeUInt16BE(PROXY_HEADER_MAX_BYTES, 14);
    assert.match(error(long), /at most 4096/);
    const badVersion = Buffer.from(v2([1, 2, 3, 4]));
    badVersion[12] = 0x31;
    assert.match(error(badVersion), /malformed version 2/);
  });

  it('never throws, whatever the bytes: random ones, and v1 lines and v2 headers with random fields (a throw in a socket event ends the process)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        parseProxyHeader(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
    const token = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%-/x[] '.split('')), maxLength: 45 });
    fc.assert(
      fc.property(fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN', 'UDP4'), token, token, token, token, (proto, a, b, c, d) => {
        const r = parseProxyHeader(Buffer.from(`PROXY ${proto} ${a} ${b} ${c} ${d}\r\nGET / HTTP/1.1\r\n`, 'latin1'));
        if (typeof r === 'object' && 'peer' in r && r.peer !== undefined) assert.notEqual(net.isIP(r.peer.address), 0);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 240 }), (meta, rest) => {
        const header = Buffer.concat([V2_SIGNATURE, Buffer.from(meta), Buffer.from(rest)]);
        parseProxyHeader(header);
      }),
      { numRuns: 2000 },
    );
  });

  it('--proxy-protocol names balancers by address or CIDR block (IPv4 written as IPv6 too), or any; anything else is refused at start-up', () => {
    const peers = proxyPeers(['10.0.0.0/8', '192.0.2.5', 'fd00::/8']);
    assert.equal(fromProxy(peers, '10.1.2.3'), true);
    assert.equal(fromProxy(peers, '::ffff:10.1.2.3'), true);
    assert.equal(fromProxy(peers, '192.0.2.5'), true);
    assert.equal(fromProxy(peers, '192.0.2.6'), false);
    assert.equal(fromProxy(peers, 'fd12::1'), true);
    assert.equal(fromProxy(peers, '2001:db8::1'), false);
    assert.equal(fromProxy(proxyPeers(['any']), '198.51.100.1'), true);
    assert.deepEqual(resolveConfig({ env: { PROXY_PROTOCOL: '10.0.0.0/8, fd00::1' } }).proxyProtocol, ['10.0.0.0/8', 'fd00::1']);
    assert.equal(resolveConfig({ env: {} }).proxyProtocol, undefined);
    for (const bad of ['10.0.0.0/33', 'lb.example', '10.0.0.1/8/2', 'fd00::/129', ',']) {
      assert.throws(() => resolveConfig({ env: { PROXY_PROTOCOL: bad } }), (err: unknown) => err instanceof OptionError && /PROXY_PROTOCOL/.test(err.message), bad);
    }
  });
});

describe('--proxy-protocol on a server', () => {
  it("a balancer's connection takes the client its header names (v1, v2 sent in two writes, v2 LOCAL keeps the balancer's); without a header it is closed unanswered and counted; another address is served as itself and its header not believed", async () => {
    const { logger, lines } = captureLogs();
    const s = await startServer({ logger, proxyProtocol: ['127.0.0.2'], headersTimeoutMs: 300 });
    const open: Raw[] = [];
    const addressOf = (n: number): unknown => lines.filter((l) => l.msg === 'request')[n]?.address;
    try {
      const a = await connect(s.port, '127.0.0.2');
      open.push(a);
      await ask(a, v1('203.0.113.7') + HEALTHZ);
      assert.match(a.received, /^HTTP\/1\.1 200 /);
      await waitFor(() => addressOf(0) !== undefined);
      assert.equal(addressOf(0), '203.0.113.7');
      // The same connection, kept alive: still that client.
      a.received = '';
      await ask(a, HEALTHZ);
      await waitFor(() => addressOf(1) !== undefined);
      assert.equal(addressOf(1), '203.0.113.7');

      const b = await connect(s.port, '127.0.0.2');
      open.push(b);
      const header = v2([198, 51, 100, 9]);
      await ask(b, header.subarray(0, 10), Buffer.concat([header.subarray(10), Buffer.from(HEALTHZ)]));
      assert.match(b.received, /^HTTP\/1\.1 200 /);
      await waitFor(() => addressOf(2) !== undefined);
      assert.equal(addressOf(2), '198.51.100.9');

      const local = await connect(s.port, '127.0.0.2');
      open.push(local);
      await ask(local, Buffer.concat([v2Local(), Buffer.from(HEALTHZ)]));
      assert.match(local.received, /^HTTP\/1\.1 200 /);
      await waitFor(() => addressOf(3) !== undefined);
      assert.equal(addressOf(3), '127.0.0.2');

      // No header: closed at once, nothing answered.
      const bare = await connect(s.port, '127.0.0.2');
      open.push(bare);
      bare.socket.write(HEALTHZ);
      await waitFor(() => bare.closedAfter !== undefined, 1000, 'the socket without a header to be closed');
      assert.equal(bare.received, '');
      // A header begun and never finished: closed at --headers-timeout-ms.
      const slow = await connect(s.port, '127.0.0.2');
      open.push(slow);
      slow.socket.write('PROXY TCP4 203.0.11');
      await waitFor(() => slow.closedAfter !== undefined, 2000, 'the unfinished header to be closed');
      assert.ok(slow.closedAfter! >= 250, `closed after ${slow.closedAfter} ms`);
      assert.equal(slow.received, '');
      assert.ok(lines.some((l) => l.level === 40 && /no PROXY protocol header from a balancer of --proxy-protocol/.test(String(l.msg))), 'a warning in the log');

      // Not a balancer: served as itself; a header from it is not one (HTTP's parser refuses the line).
      const other = await connect(s.port, '127.0.0.3');
      open.push(other);
      await ask(other, HEALTHZ);
      assert.match(other.received, /^HTTP\/1\.1 200 /);
      await waitFor(() => addressOf(4) !== undefined);
      assert.equal(addressOf(4), '127.0.0.3');
      const liar = await connect(s.port, '127.0.0.3');
      open.push(liar);
      await ask(liar, v1('192.0.2.99') + HEALTHZ);
      assert.match(liar.received, /^HTTP\/1\.1 400 /);
      assert.ok(!JSON.stringify(lines).includes('192.0.2.99'), 'the address it named is nowhere');

      const m = await connect(s.port, '127.0.0.3');
      open.push(m);
      m.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => m.received.includes('switchboard_errors_total'), 3000, 'the metrics');
      assert.equal(metricSample(m.received, 'switchboard_errors_total{code="BAD_REQUEST"}'), 3);
    } finally {
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it("a balancer's sockets that send no header hold units of --max-sockets while they wait: past the cap a new socket is closed at once, and the units come back when they go", async () => {
    const s = await startServer({ proxyProtocol: ['127.0.0.2'], maxSockets: 5, maxConnections: 4, headersTimeoutMs: 5000 });
    const open: Raw[] = [];
    try {
      const silent: Raw[] = [];
      for (let i = 0; i < 5; i++) silent.push(await connect(s.port, '127.0.0.2'));
      open.push(...silent);
      // The process holds 5 sockets, all waiting for a header: a direct client is refused at once.
      const refused = await connect(s.port, '127.0.0.3');
      open.push(refused);
      await waitFor(() => refused.closedAfter !== undefined, 2500, 'the sixth socket to be closed');
      assert.equal(refused.received, '');
      assert.ok(silent.every((r) => r.closedAfter === undefined), 'the waiting sockets are still open');
      // They go: their units come back (not only at the header's deadline).
      for (const r of silent) r.socket.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const served = await connect(s.port, '127.0.0.3');
      open.push(served);
      await ask(served, HEALTHZ);
      assert.match(served.received, /^HTTP\/1\.1 200 /);
    } finally {
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it('the caps of an address count the client a header names, not the balancer: past --max-connections-per-address (+64 sockets) one client is refused while another is served through the same balancer', async () => {
    const s = await startServer({ proxyProtocol: ['127.0.0.2'], maxConnectionsPerAddress: 1 });
    const open: Raw[] = [];
    try {
      // 65 sockets for one address.
      for (let i = 0; i < 65; i++) {
        const r = await connect(s.port, '127.0.0.2');
        open.push(r);
        await ask(r, v1('203.0.113.7') + HEALTHZ);
        assert.match(r.received, /^HTTP\/1\.1 200 /, `socket ${i + 1}`);
      }
      const past = await connect(s.port, '127.0.0.2');
      open.push(past);
      await ask(past, v1('203.0.113.7') + HEALTHZ);
      assert.notEqual(past.closedAfter, undefined, 'the 66th socket of 203.0.113.7 is closed');
      assert.equal(past.received, '');
      const another = await connect(s.port, '127.0.0.2');
      open.push(another);
      await ask(another, v1('203.0.113.8') + HEALTHZ);
      assert.match(another.received, /^HTTP\/1\.1 200 /);
    } finally {
      for (const r of open) r.socket.destroy();
      await s.server.close();
    }
  });

  it('over TLS, HTTP/1.1 and HTTP/2 requests and WebSocket upgrades have the client the header named, and --tls-handshake-rate counts that client', { skip: skipWithoutOpenssl() }, async () => {
    const cert = makeCertificate();
    const ca = readFileSync(cert.cert);
    const { logger, lines } = captureLogs();
    // 1 handshake a second, burst 10.
    const s = await startServer({ logger, tlsCert: cert.cert, tlsKey: cert.key, proxyProtocol: ['127.0.0.2'], tlsHandshakeRatePerSecond: 1 });
    /** A TLS connection through the "balancer" for `client`, its header first. */
    const through = (client: string, alpn: string[]): Promise<tls.TLSSocket> =>
      new Promise((resolve, reject) => {
        const raw = net.connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
          raw.write(v1(client));
          const t = tls.connect({ socket: raw, servername: 'localhost', ca, ALPNProtocols: alpn }, () => resolve(t));
          t.on('error', reject);
        });
        raw.on('error', reject);
      });
    const sockets: net.Socket[] = [];
    try {
      const t = await through('203.0.113.7', ['http/1.1']);
      sockets.push(t);
      let got = '';
      t.setEncoding('utf8');
      t.on('data', (d: string) => (got += d));
      t.write(HEALTHZ);
      await waitFor(() => got.includes('{"status":"ok"}'), 3000, 'the HTTPS answer');
      await waitFor(() => lines.some((l) => l.msg === 'request' && l.address === '203.0.113.7'), 3000, 'the request logged as 203.0.113.7');

      const t2 = await through('198.51.100.9', ['h2']);
      sockets.push(t2);
      const session = http2.connect(`https://localhost:${s.port}`, { createConnection: () => t2 });
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/healthz' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
      session.close();
      assert.equal(status, 200);
      await waitFor(() => lines.some((l) => l.msg === 'request' && l.address === '198.51.100.9'), 3000, 'the HTTP/2 request logged as 198.51.100.9');

      const t3 = await through('192.0.2.44', ['http/1.1']);
      sockets.push(t3);
      let upgrade = '';
      t3.setEncoding('utf8');
      t3.on('data', (d: string) => (upgrade += d));
      t3.write('GET /api/ws?member=pp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      await waitFor(() => upgrade.includes('\r\n\r\n'), 3000, 'the upgrade answer');
      assert.match(upgrade, /^HTTP\/1\.1 101 /);
      await waitFor(() => lines.some((l) => l.msg === 'websocket open' && l.address === '192.0.2.44'), 3000, 'the WebSocket logged as 192.0.2.44');

      // The handshake rate is the named client's: 203.0.113.7 has spent one of its burst of 10.
      for (let i = 0; i < 9; i++) sockets.push(await through('203.0.113.7', ['http/1.1']));
      await assert.rejects(through('203.0.113.7', ['http/1.1']), (err: NodeJS.ErrnoException) => /ECONNRESET|EPIPE|socket disconnected/.test(`${err.code} ${err.message}`));
      sockets.push(await through('203.0.113.8', ['http/1.1']));
    } finally {
      for (const so of sockets) so.destroy();
      await s.server.close();
      rmSync(cert.dir, { recursive: true, force: true });
    }
  });

  it('with --workers 2, the primary hands each connection on unread: the worker reads its header', { skip: existsSync('dist/src/cli/index.js') ? false : 'run `npm run build` first', timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-proxy-protocol-'));
    const server = await WorkersProcess.start(['--workers', '2', '--worker-accept', 'primary', '--proxy-protocol', '127.0.0.0/24', '--data-dir', dataDir]);
    const open: Raw[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const r = await connect(server.port, '127.0.0.2');
        open.push(r);
        await ask(r, v1(`203.0.113.${10 + i}`) + HEALTHZ);
        assert.match(r.received, /^HTTP\/1\.1 200 /, `connection ${i + 1}`);
      }
      for (let i = 0; i < 4; i++) await server.waitForLog((l) => l.msg === 'request' && l.address === `203.0.113.${10 + i}`, 5000, `the request of 203.0.113.${10 + i}`);
      const workers = new Set(server.lines.filter((l) => l.msg === 'request' && String(l.address).startsWith('203.0.113.')).map((l) => l.node));
      assert.equal(workers.size, 2, 'both workers read headers');
    } finally {
      for (const r of open) r.socket.destroy();
      await server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
