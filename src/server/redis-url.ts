/** The scheme of a Redis Cluster URL: `redis-cluster://host:port,host:port` (`rediss-cluster://` for TLS). */
const CLUSTER_URL = /^(rediss?)-cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;

/** `host:port` (an IPv6 host in brackets) as a node; undefined without a port. */
function node(part: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(part.trim());
  if (!m || Number(m[2]) > 65_535) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** `user:password` or `password` of a URL's userinfo, %-decoded. */
function credentials(userinfo: string | undefined): { username?: string; password?: string } {
  if (!userinfo) return {};
  const [user = '', password] = userinfo.split(':');
  if (password === undefined) return user ? { password: decodeURIComponent(user) } : {};
  return { ...(user ? { username: decodeURIComponent(user) } : {}), password: decodeURIComponent(password) };
}

/** The seed nodes and credentials of a Redis Cluster URL. */
export interface ClusterUrl {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * Reads `redis-cluster://[user:password@]host:port,host:port,...` (any reachable masters; the rest
 * of the cluster is discovered from them). Undefined when `url` is not a cluster URL or a node
 * lacks a port.
 */
export function parseClusterUrl(url: string): ClusterUrl | undefined {
  try {
    return readClusterUrl(url);
  } catch {
    return undefined; // a malformed %-escape in the credentials
  }
}

function readClusterUrl(url: string): ClusterUrl | undefined {
  const m = CLUSTER_URL.exec(url);
  if (!m) return undefined;
  const nodes: ClusterUrl['nodes'] = [];
  for (const part of m[3]!.split(',')) {
    const n = node(part);
    if (!n) return undefined;
    nodes.push(n);
  }
  return { nodes, tls: m[1] === 'rediss', ...credentials(m[2]) };
}

/** True for a `redis-cluster://` (or `rediss-cluster://`) URL. */
export function isClusterUrl(url: string): boolean {
  return parseClusterUrl(url) !== undefined;
}

/** The scheme of a Sentinel URL: `redis-sentinel://host:port,host:port/master` (`rediss-sentinel://` for TLS). */
const SENTINEL_URL = /^(rediss?)-sentinel:\/\/(?:([^@/]*)@)?([^/?#]+)\/([^/?#]+)\/?(?:\?([^#]*))?$/;

/** The sentinels, the master's name and the credentials of a Sentinel URL. */
export interface SentinelUrl {
  sentinels: { host: string; port: number }[];
  /** The name the sentinels monitor the master under (`sentinel monitor <name> ...`). */
  name: string;
  /** For the master and its replicas. */
  username?: string;
  password?: string;
  /** For the sentinels themselves, when they require it (`sentinelPassword` in the query). */
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls: boolean;
}

/**
 * Reads `redis-sentinel://[user:password@]host:port,host:port,.../<master-name>[?sentinelUsername=u&sentinelPassword=p]`:
 * Redis with replicas and automatic failover (Redis Sentinel). The host:port pairs are
 * sentinels (any reachable one tells where the master is); the userinfo is the master's; a
 * sentinel that requires a password of its own takes it from the query. Undefined when `url` is
 * not a Sentinel URL, a sentinel lacks a port, or the query names something else.
 */
export function parseSentinelUrl(url: string): SentinelUrl | undefined {
  try {
    return readSentinelUrl(url);
  } catch {
    return undefined; // a malformed %-escape
  }
}

function readSentinelUrl(url: string): SentinelUrl | undefined {
  const m = SENTINEL_URL.exec(url);
  if (!m) return undefined;
  const sentinels: SentinelUrl['sentinels'] = [];
  for (const part of m[3]!.split(',')) {
    const n = node(part);
    if (!n) return undefined;
    sentinels.push(n);
  }
  const out: SentinelUrl = { sentinels, name: decodeURIComponent(m[4]!), tls: m[1] === 'rediss', ...credentials(m[2]) };
  for (const [key, value] of new URLSearchParams(m[5] ?? '')) {
    if (key === 'sentinelPassword') out.sentinelPassword = value;
    else if (key === 'sentinelUsername') out.sentinelUsername = value;
    else return undefined;
  }
  return out;
}

/** True for a `redis-sentinel://` (or `rediss-sentinel://`) URL. */
export function isSentinelUrl(url: string): boolean {
  return parseSentinelUrl(url) !== undefined;
}

/** A Redis URL as messages show it: its credentials (`user:password@`) masked. */
export function shownRedisUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^@/]*@/, '$1***@');
}
