/**
 * Which client an address is, as every cap and budget per address counts it: its own module, as
 * the primary of `--workers` (`--worker-accept address`) reads it too and loads no server.
 */

/**
 * The client an address stands for, as budgets and caps per address count it: an IPv4 address
 * (also written as IPv6: `::ffff:1.2.3.4`, NAT64's `64:ff9b::1.2.3.4`) as it is; an IPv6 address as its /64
 * (`2001:db8:1:2::/64`). One IPv6 host has a /64 to itself, so 2^64 addresses: counted one by
 * one, it refilled every budget of an address (connections, rooms per day, guests' publishes) by
 * sending from the next one. Anything else is taken as it is.
 */
export function clientOf(address: string): string {
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  // IPv4-mapped, and the well-known NAT64 prefix (RFC 6052): an IPv4 client, written as IPv6.
  const mapped = /^(?:::ffff:|64:ff9b::)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(bare);
  if (mapped) return mapped[1]!;
  const halves = bare.split('::');
  if (halves.length > 2) return address;
  const groups = (h: string | undefined): string[] => (h ? h.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all = halves.length === 2 ? [...head, ...new Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail] : head;
  const prefix = all.slice(0, 4);
  if (all.length !== 8 || !prefix.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return address;
  return `${prefix.map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
