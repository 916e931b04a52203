/** The scheme of a Redis Cluster URL: `redis-cluster://host:port,host:port` (`rediss-cluster://` for TLS). */
const CLUSTER_URL = /^(rediss?)-cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;

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
  const m = CLUSTER_URL.exec(url);
  if (!m) return undefined;
  const nodes: ClusterUrl['nodes'] = [];
  for (const part of m[3]!.split(',')) {
    const node = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(part.trim());
    if (!node) return undefined;
    nodes.push({ host: node[1]!.replace(/^\[|\]$/g, ''), port: Number(node[2]) });
  }
  const out: ClusterUrl = { nodes, tls: m[1] === 'rediss' };
  if (m[2]) {
    const [user = '', password] = m[2].split(':');
    if (password !== undefined) {
      if (user) out.username = decodeURIComponent(user);
      out.password = decodeURIComponent(password);
    } else if (user) out.password = decodeURIComponent(user);
  }
  return out;
}

/** True for a `redis-cluster://` (or `rediss-cluster://`) URL. */
export function isClusterUrl(url: string): boolean {
  return parseClusterUrl(url) !== undefined;
}
