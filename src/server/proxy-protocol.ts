import { BlockList, isIP, type Socket } from 'node:net';
import { Command, IPv4ProxyAddress, IPv6ProxyAddress, V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js';

/**
 * The PROXY protocol (HAProxy's, spoken by TCP load balancers: HAProxy `send-proxy`, AWS NLB,
 * nginx `proxy_protocol`, Traefik...): a balancer that passes connections on as TCP, TLS
 * included, begins each one with a header naming the client's address. Without it every
 * connection is the balancer's, and the caps and budgets per address (`--max-connections-per-address`,
 * `--tls-handshake-rate`, every rate of a guest) count one address for every client.
 *
 * `--proxy-protocol <addresses>` names the balancers: a connection from one of them must begin
 * with a header (version 1, text, or 2, binary), and the address it names is the connection's
 * (`socket.remoteAddress`, for everything that reads it). A connection from any other address is
 * served as it is, under its own address: a header is believed only from a balancer (anyone
 * else could name any address, a new one per connection, and refill every budget of an address).
 * The balancer's own connections (health checks: version 2's LOCAL, version 1's UNKNOWN) keep
 * the balancer's address.
 */

/** The header's signatures: version 1 is text, version 2 binary. */
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 1's longest line, CRLF included (the specification's 107 bytes). */
const V1_MAX_BYTES = 107;
/** The fixed part of a version 2 header: signature, version and command, family, length. */
const V2_FIXED_BYTES = 16;
/**
 * The most of a version 2 header read (TLVs included): addresses take at most 216 bytes, and the
 * TLVs balancers add (AWS's endpoint id, Azure's link id, HAProxy's TLS facts) a few hundred. A
 * longer one is refused rather than buffered: up to 64 KiB would be allowed by its length field.
 */
export const PROXY_HEADER_MAX_BYTES = 4096;

/** Which connections must begin with a header: those from `any` address, or from a balancer of the list. */
export type ProxyPeers = 'any' | BlockList;

/** Turns `--proxy-protocol`'s list (addresses, CIDR blocks, or `any`) into ProxyPeers; throws on a bad item. */
export function proxyPeers(items: readonly string[]): ProxyPeers {
  if (items.includes('any')) return 'any';
  const list = new BlockList();
  for (const item of items) {
    const parsed = parseProxyPeer(item);
    if (parsed === undefined) throw new Error(`not an address or CIDR block: ${item}`);
    const [address, prefix, type] = parsed;
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return list;
}

/** An item of `--proxy-protocol`: `any`, an IPv4 or IPv6 address, or a CIDR block of one (`10.0.0.0/8`, `fd00::/8`). */
export function isProxyPeer(item: string): boolean {
  return item === 'any' || parseProxyPeer(item) !== undefined;
}

function parseProxyPeer(item: string): [string, number | undefined, 'ipv4' | 'ipv6'] | undefined {
  const [address = '', prefix, extra] = item.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const type = version === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) return [address, undefined, type];
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 4 ? 32 : 128)) return undefined;
  return [address, Number(prefix), type];
}

/** True when a connection from `address` (as the socket tells it) must begin with a header. */
export function fromProxy(peers: ProxyPeers, address: string | undefined): boolean {
  if (peers === 'any') return true;
  if (address === undefined) return false;
  // An IPv4 peer of a dual-stack socket is written `::ffff:10.0.0.1`.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
  if (mapped !== undefined) return peers.check(mapped, 'ipv4');
  return peers.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** The client a header names; undefined for the balancer's own connections (LOCAL, UNKNOWN). */
export interface ProxiedPeer {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** What reading a header came to: the bytes it took, and the client it names (or none). */
type Parsed = { bytes: number; peer: ProxiedPeer | undefined } | { error: string } | 'more';

/**
 * Reads a header at the start of `data` (what the connection sent so far): 'more' while it can
 * still be one, its length and client once whole, an error once it cannot be one.
 */
export function parseProxyHeader(data: Buffer): Parsed {
  if (startsLike(data, V1_SIGNATURE)) {
    if (data.length < V1_SIGNATURE.length) return 'more';
    const end = data.indexOf('\r\n');
    if (end < 0) return data.length >= V1_MAX_BYTES ? { error: 'a version 1 header without its CRLF in 107 bytes' } : 'more';
    if (end + 2 > V1_MAX_BYTES) return { error: 'a version 1 header longer than 107 bytes' };
    const line = data.toString('latin1', 0, end + 2);
    // UNKNOWN: the balancer's own connection, or one it cannot describe; the rest of the line is ignored.
    if (line.startsWith('PROXY UNKNOWN')) return { bytes: end + 2, peer: undefined };
    let parsed: V1ProxyProtocol;
    try {
      parsed = V1ProxyProtocol.parse(line);
    } catch {
      return { error: 'a malformed version 1 header' };
    }
    const family = parsed.inetProtocol === 'TCP4' ? 4 : 6;
    const { ipAddress, port } = parsed.source;
    // As written (clientOf reads any IPv6 form alike), without a zone (`%eth0`): no peer of a balancer has one.
    if (isIP(ipAddress) !== family || ipAddress.includes('%') || !validPort(port)) return { error: 'a version 1 header with a bad source address or port' };
    return { bytes: end + 2, peer: { address: ipAddress.toLowerCase(), port, family: family === 4 ? 'IPv4' : 'IPv6' } };
  }
  if (startsLike(data, V2_SIGNATURE)) {
    if (data.length < V2_FIXED_BYTES) return 'more';
    const bytes = V2_FIXED_BYTES + data.readUInt16BE(14);
    if (bytes > PROXY_HEADER_MAX_BYTES) return { error: `a version 2 header of ${bytes} bytes (at most ${PROXY_HEADER_MAX_BYTES} are read)` };
    if (data.length < bytes) return 'more';
    let parsed: V2ProxyProtocol;
    try {
      parsed = V2ProxyProtocol.parse(data.subarray(0, bytes));
    } catch {
      return { error: 'a malformed version 2 header' };
    }
    // LOCAL: the balancer's own connection (a health check); any address it carries is not a client's.
    if (parsed.command === Command.LOCAL) return { bytes, peer: undefined };
    const a = parsed.proxyAddress;
    if (a instanceof IPv4ProxyAddress) return { bytes, peer: { address: a.sourceAddress.address.join('.'), port: a.sourcePort, family: 'IPv4' } };
    if (a instanceof IPv6ProxyAddress) return { bytes, peer: { address: ipv6Text(a.sourceAddress.address), port: a.sourcePort, family: 'IPv6' } };
    // UNSPEC or a UNIX socket: no client address to take.
    return { bytes, peer: undefined };
  }
  return { error: 'no PROXY protocol header' };
}

/** True while `data` is a prefix of `signature` or begins with it. */
function startsLike(data: Buffer, signature: Buffer): boolean {
  const n = Math.min(data.length, signature.length);
  return data.subarray(0, n).equals(signature.subarray(0, n));
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= 65535;
}

/**
 * 16 bytes of an IPv6 address as node writes a peer's: an IPv4-mapped one as `::ffff:1.2.3.4`
 * (what clientOf takes for the IPv4 client it is), any other in lower case with its zeros
 * compressed (the URL parser's form of the eight groups).
 */
function ipv6Text(b: readonly number[]): string {
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * Reads the header a connection from a balancer begins with, within `timeoutMs` and
 * PROXY_HEADER_MAX_BYTES, before anything else reads the socket: then calls `done` with the client
 * it names (undefined: the balancer's own connection), the bytes that followed it put back for the
 * socket's next reader (node's HTTP parser, or its TLS socket). Calls `refused` instead, once, when
 * the connection sends something else, too much, or nothing in time, or ends first; the socket is
 * left to the caller to destroy. Nothing is called when the socket closes first (a reset included).
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, done: (peer: ProxiedPeer | undefined) => void, refused: (reason: string) => void): void {
  let data: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => finish(() => refused(`no PROXY protocol header within ${timeoutMs} ms`)), timeoutMs);
  function finish(then: () => void): void {
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    socket.off('error', onError);
    then();
  }
  function onClose(): void {
    finish(() => {});
  }
  // The balancer's end of the connection closed before a whole header: node's HTTP server allows
  // half-open sockets, so nothing else would close ours before the deadline.
  function onEnd(): void {
    finish(() => refused('the connection ended before its PROXY protocol header'));
  }
  // Nothing else listens yet: an unheard 'error' (a reset while waiting) would throw. 'close' follows it.
  function onError(): void {}
  function onReadable(): void {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      let parsed: Parsed;
      try {
        parsed = parseProxyHeader(data);
      } catch {
        // Never thrown for any input the tests could find: a throw here would end the process.
        parsed = { error: 'a header that could not be read' };
      }
      if (parsed === 'more') continue;
      if ('error' in parsed) {
        finish(() => refused(parsed.error));
        return;
      }
      finish(() => {
        if (data.length > parsed.bytes) socket.unshift(data.subarray(parsed.bytes));
        done(parsed.peer);
      });
      return;
    }
  }
  socket.on('readable', onReadable);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  socket.on('error', onError);
}

/**
 * Makes `socket` tell the client's address, port and family (remoteAddress, remotePort,
 * remoteFamily) instead of the balancer's: own properties over net.Socket's getters, so that
 * every reader (the caps, the access log, the sessions' address) sees the client.
 */
export function actAs(socket: Socket, peer: ProxiedPeer): void {
  Object.defineProperty(socket, 'remoteAddress', { value: peer.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: peer.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: peer.family, configurable: true });
  PROXIED.set(socket, peer);
}

/** The client named by the header of a socket (actAs), for the TLS socket made over it. */
const PROXIED = new WeakMap<Socket, ProxiedPeer>();

/**
 * A TLS server's socket over a connection whose header named its client: node's TLS socket asks
 * the TCP handle under it for its peer (the balancer), not the socket actAs changed. Called at
 * `secureConnection`, before any request of it is read. `_parent` is node's link from a server's
 * TLS socket to the TCP socket it wraps (test/proxy-protocol.test.ts fails if it goes).
 */
export function tlsActAs(tlsSocket: Socket): void {
  const parent = (tlsSocket as Socket & { _parent?: Socket | null })._parent;
  const peer = parent ? PROXIED.get(parent) : undefined;
  if (peer !== undefined) actAs(tlsSocket, peer);
}
