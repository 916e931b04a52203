import { SwitchboardError } from '../../protocol/errors.js';
import { APP_PRINCIPAL, limitKey, type Principal } from '../auth/principal.js';
import type { CryptoGuard } from '../auth/token-verifier.js';
import { RateLimiter } from '../rate-limiter.js';

/**
 * What one principal (or address) may do per second (`rooms`: per day): a token bucket each.
 * `accessLog`: lines of the access log an address gets. `read`: units of READ_UNIT_BYTES of
 * history, poll and list answers and of replays, charged after them (Limits.charge, refuseInDebt). `auth`: token
 * verifications that failed, per address (addressGuard). `tls`: new TLS connections (each a
 * handshake) per address, taken before the handshake (capSockets).
 */
export type Budget = 'publish' | 'typing' | 'subscribe' | 'create' | 'rooms' | 'connect' | 'query' | 'read' | 'auth' | 'tls' | 'accessLog';

/** The unit of the `read` budget: an answer costs one per READ_UNIT_BYTES it holds, rounded down (a smaller one costs none). */
export const READ_UNIT_BYTES = 64 * 1024;
/** Units of the `read` budget in a MiB (`--read-rate` is in MiB per second). */
export const READ_UNITS_PER_MIB = (1024 * 1024) / READ_UNIT_BYTES;

export interface LimitOptions {
  /** Per budget: tokens per second and bucket size. */
  rates: Record<Budget, { perSecond: number; burst: number }>;
  maxConnectionsPerAddress: number;
  maxConnectionsPerMember: number;
  /** The other processes whose budgets (and caps) are these (the workers of `--workers`: workers/shared-limits.ts; the nodes of a Redis deployment: redis-limit-peers.ts); none: this process alone. */
  peers?: LimitPeers;
}

/** Units of a budget spent for a key (`ip:<address>`, `member:<id>`), as peers tell each other. */
export type Spend = [budget: Budget, key: string, units: number];

/** A process's count of open connections of an address or a member, as peers tell each other. */
export type Held = [cap: 'address' | 'member', key: string, open: number];

/**
 * Processes that spend the same budgets and caps (the workers of one node; the nodes of a Redis
 * deployment): each tells the others what it spent, and charges what they
 * spent to its own buckets, so that a client whose connections land on several of them gets one
 * budget, not one in each (refusals spend nothing, so tell nothing); and each tells how many
 * connections an address or a member holds on it, once it holds two or more (SHARED_FROM), so
 * that the caps count those of the others too.
 */
export interface LimitPeers {
  /** Units spent here (taken, or charged after the work), for the peers to charge. */
  spent(budget: Budget, key: string, units: number): void;
  /** Sets the one handler of the units the peers spent. */
  onSpent(handler: (spends: readonly Spend[]) => void): void;
  /** The connections `key` now holds here (its last count told wins). */
  holds(cap: Held[0], key: string, open: number): void;
  /** Sets the handlers of a peer's counts (their latest, by key) and of a peer gone (its counts forgotten; ALL_PEERS: every peer's). */
  onHolds(handler: (peer: string, counts: readonly Held[]) => void, gone: (peer: string) => void): void;
  /** Spends not told so far, where the sharing is best effort (over Redis: while it is away, or past the keys one message takes); none for the workers' IPC. */
  readonly dropped?: number;
}

/**
 * What sharing with the peers carried so far (`switchboard_shared_limit_*`, docs/operations.md):
 * spends told to them (each take or charge here) and entries of theirs charged here (one a key
 * and budget per message: their spends summed), counts of connections told and heard.
 */
export interface PeerTraffic {
  spendsTold: number;
  spendsHeard: number;
  countsTold: number;
  countsHeard: number;
}

/**
 * An address or a member with fewer connections than this on a process is not told to its peers:
 * most clients hold one (a WebSocket, a long poll that comes and goes with each answer), whose
 * every poll would otherwise cross to the others. So a client may hold up to one connection more
 * per other process than its cap, never n times it; except under a cap of EXACT_CAPS_UP_TO or
 * less (one connection per member, say), where every connection is told.
 */
export const SHARED_FROM = 2;
/** A cap this small counts every connection of the peers (see SHARED_FROM). */
export const EXACT_CAPS_UP_TO = 10;

/** The peer of a `gone` that means every peer: all their counts are forgotten (they are told again after it). */
export const ALL_PEERS = '*';

/**
 * Budgets the peers do not share: `accessLog`, lines of this process's log (every request takes
 * one, so sharing it would cost an IPC message per turn of every worker under any load).
 */
const UNSHARED: ReadonlySet<Budget> = new Set(['accessLog']);

/** Buckets kept at most, per budget: idle (full) ones are forgotten first. */
const MAX_BUCKETS = 50_000;
/** Keys in debt remembered per budget before the paid-back ones are swept (at least). */
const DEBTS_SWEEP_AT = 1024;

/**
 * The budgets of this node, keyed on who spends them: the member for users and the system
 * (whatever connection or transport it uses), the address for guests (whatever member id they
 * claim). Every refusal is a catalog error carrying `retryAfter` seconds. Budgets and caps are
 * this process's, unless `peers` share them: the workers of one node (workers/shared-limits.ts),
 * or the nodes of a Redis deployment (redis-limit-peers.ts); a cap not shared gives a client
 * spread over n processes up to n times as many connections.
 */
export class Limits {
  private readonly buckets = new Map<Budget, Map<string, RateLimiter>>();
  private readonly openByAddress = new OpenCounts();
  private readonly openByMember = new OpenCounts();
  /**
   * Per budget charged past its bucket: each key in debt, and when (performance.now()) it will
   * have paid it back. refuseInDebt looks nothing up while no one owes (every poll asks).
   */
  private readonly debts = new Map<Budget, Debts>();

  private readonly peers: LimitPeers | undefined;
  /** With peers: the connections they hold, summed, per address and per member; and each peer's, as last told. */
  private readonly elsewhere = { address: new Map<string, number>(), member: new Map<string, number>() };
  private readonly byPeer = new Map<string, { address: Map<string, number>; member: Map<string, number> }>();
  /** With peers: what was last told of each key held here (keys told 0 are forgotten). */
  private readonly told = { address: new Map<string, number>(), member: new Map<string, number>() };
  /** With peers: from how many connections on this process a key's count is told (SHARED_FROM, or 1 under a small cap). */
  private readonly sharedFrom: Record<Held[0], number>;
  /** With peers: what the sharing carried (for /metrics). */
  readonly peerTraffic: PeerTraffic = { spendsTold: 0, spendsHeard: 0, countsTold: 0, countsHeard: 0 };

  constructor(private readonly options: LimitOptions) {
    for (const b of Object.keys(options.rates) as Budget[]) this.buckets.set(b, new Map());
    this.peers = options.peers;
    const from = (cap: number): number => (cap <= EXACT_CAPS_UP_TO ? 1 : SHARED_FROM);
    this.sharedFrom = { address: from(options.maxConnectionsPerAddress), member: from(options.maxConnectionsPerMember) };
    this.peers?.onSpent((spends) => this.absorb(spends));
    this.peers?.onHolds(
      (peer, counts) => {
        this.peerTraffic.countsHeard += counts.length;
        this.peerHolds(peer, counts);
      },
      (peer) => this.peerGone(peer),
    );
  }

  /** Spends one unit of `budget` for `key`; throws RATE_LIMITED (with retryAfter; saying `why` when given) when none is left. */
  take(budget: Budget, key: string, why?: string): void {
    const now = performance.now();
    const bucket = this.bucketOf(budget, key);
    if (!bucket.take(now)) throw withRetry(new SwitchboardError('RATE_LIMITED', why ?? `${budget} budget spent`), bucket.secondsUntilNext(now));
    this.tell(budget, key, 1);
  }

  /** `take` that says false instead of throwing (nothing made for a refusal: for work that is skipped, not refused). */
  tryTake(budget: Budget, key: string): boolean {
    if (!this.bucketOf(budget, key).take(performance.now())) return false;
    this.tell(budget, key, 1);
    return true;
  }

  /** Tells the peers what was spent here. */
  private tell(budget: Budget, key: string, units: number): void {
    if (this.peers === undefined || UNSHARED.has(budget)) return;
    this.peers.spent(budget, key, units);
    this.peerTraffic.spendsTold++;
  }

  /**
   * Charges what the peers spent (told, not asked: they took it from their own buckets, which did
   * not know of this process's spends either), into debt as `charge` does: a client whose
   * requests go to several processes is refused by each once all of them together spent its budget.
   */
  private absorb(spends: readonly Spend[]): void {
    const now = performance.now();
    this.peerTraffic.spendsHeard += spends.length;
    for (const [budget, key, units] of spends) {
      if (this.buckets.has(budget) && typeof key === 'string' && Number.isFinite(units) && units > 0) this.chargeHere(budget, key, units, now);
    }
  }

  private bucketOf(budget: Budget, key: string): RateLimiter {
    const map = this.buckets.get(budget)!;
    let bucket = map.get(key);
    if (!bucket) {
      if (map.size >= MAX_BUCKETS) prune(map);
      const { perSecond, burst } = this.options.rates[budget];
      map.set(key, (bucket = new RateLimiter(perSecond, burst)));
    }
    return bucket;
  }

  /**
   * Charges `n` more units of `budget` to `p` for work done past what its `spend` paid for (a
   * search that scanned much text), into debt: its next requests wait until it is paid back.
   */
  charge(budget: Budget, p: Principal, n: number): void {
    if (n <= 0 || p === APP_PRINCIPAL) return;
    this.chargeKey(budget, limitKey(p), n);
  }

  /** `charge` on a key (`ip:<address>`, `member:<id>`). */
  chargeKey(budget: Budget, key: string, n: number): void {
    this.chargeHere(budget, key, n, performance.now());
    this.tell(budget, key, n);
  }

  private chargeHere(budget: Budget, key: string, n: number, now: number): void {
    const owed = this.bucketOf(budget, key).charge(n, now);
    let debts = this.debts.get(budget);
    if (owed > 0) {
      if (debts === undefined) this.debts.set(budget, (debts = new Debts()));
      debts.owe(key, now + owed * 1000, now);
    } else debts?.forget(key);
  }

  /**
   * Throws RATE_LIMITED (saying `why`, with the seconds until it is paid back) while `p` owes
   * `budget`, charged past its bucket by `charge`; for work whose cost is known only once done,
   * so not taken before it.
   */
  refuseInDebt(budget: Budget, p: Principal, why: string): void {
    if (p === APP_PRINCIPAL) return;
    // No key made while no one owes (every poll asks).
    const debts = this.debts.get(budget);
    if (debts === undefined || debts.size === 0) return;
    this.refuseInDebtKey(budget, limitKey(p), why);
  }

  /** `refuseInDebt` on a key. */
  refuseInDebtKey(budget: Budget, key: string, why: string): void {
    const debts = this.debts.get(budget);
    if (debts === undefined || debts.size === 0) return;
    const left = debts.left(key, performance.now());
    if (left > 0) throw withRetry(new SwitchboardError('RATE_LIMITED', why), left / 1000);
  }

  /**
   * The CryptoGuard of a token verification for a client at `address`: each failed verification
   * costs a unit of the address's `auth` budget, into debt; while it owes, tokens that would need
   * verifying are refused before any cryptography (tokens already verified, cached, still pass).
   */
  addressGuard(address: string): CryptoGuard {
    return new AddressGuard(this, `ip:${address}`);
  }

  /** `take` on the principal's key. */
  spend(budget: Budget, p: Principal): void {
    if (p === APP_PRINCIPAL) return;
    this.take(budget, limitKey(p));
  }

  /**
   * Spends a room creation of `p`: the per-second `create` budget, then the day's `rooms` quota
   * (not the system's: the API key is the operator's own). Throws RATE_LIMITED.
   */
  spendRoom(p: Principal): void {
    if (p === APP_PRINCIPAL) return;
    this.take('create', limitKey(p));
    if (p.kind === 'system') return;
    const perDay = this.options.rates.rooms.burst;
    this.take('rooms', limitKey(p), `at most ${perDay} rooms a day from one ${p.kind === 'user' ? 'member' : 'address'} (--rooms-per-day)`);
  }

  /**
   * Counts an open connection of `p` against the per-address and per-member caps; throws
   * TOO_MANY_CONNECTIONS_FROM_YOU past either. `closeConnection` releases it.
   */
  openConnection(p: Principal): void {
    const address = p.address;
    const member = p.kind === 'user' ? p.member : undefined;
    if (this.openByAddress.get(address) + (this.elsewhere.address.get(address) ?? 0) >= this.options.maxConnectionsPerAddress) {
      throw withRetry(new SwitchboardError('TOO_MANY_CONNECTIONS_FROM_YOU', `at most ${this.options.maxConnectionsPerAddress} per address`), 5);
    }
    if (member !== undefined && this.openByMember.get(member) + (this.elsewhere.member.get(member) ?? 0) >= this.options.maxConnectionsPerMember) {
      throw withRetry(new SwitchboardError('TOO_MANY_CONNECTIONS_FROM_YOU', `at most ${this.options.maxConnectionsPerMember} per member`), 5);
    }
    this.openByAddress.add(address, 1);
    if (member !== undefined) this.openByMember.add(member, 1);
    if (this.peers !== undefined) {
      this.tellHeld('address', address, this.openByAddress.get(address));
      if (member !== undefined) this.tellHeld('member', member, this.openByMember.get(member));
    }
  }

  /** Releases a connection counted by `openConnection` (the caller releases each once). */
  closeConnection(p: Principal): void {
    this.openByAddress.add(p.address, -1);
    if (p.kind === 'user') this.openByMember.add(p.member, -1);
    if (this.peers !== undefined) {
      this.tellHeld('address', p.address, this.openByAddress.get(p.address));
      if (p.kind === 'user') this.tellHeld('member', p.member, this.openByMember.get(p.member));
    }
  }

  /** Tells the peers what `key` holds here, from `sharedFrom` connections on, and until it is told 0. */
  private tellHeld(cap: Held[0], key: string, open: number): void {
    const told = this.told[cap];
    const last = told.get(key) ?? 0;
    if (open === last || (open < this.sharedFrom[cap] && last === 0)) return;
    if (open === 0) told.delete(key);
    else told.set(key, open);
    this.peers!.holds(cap, key, open);
    this.peerTraffic.countsTold++;
  }

  /** A peer's latest counts: each replaces what it told of its key before, in the sums. */
  private peerHolds(peer: string, counts: readonly Held[]): void {
    let own = this.byPeer.get(peer);
    if (own === undefined) this.byPeer.set(peer, (own = { address: new Map(), member: new Map() }));
    for (const [cap, key, open] of counts) {
      const mine = own[cap];
      if (mine === undefined || !(open >= 0)) continue;
      const sums = this.elsewhere[cap];
      const sum = (sums.get(key) ?? 0) - (mine.get(key) ?? 0) + open;
      if (sum > 0) sums.set(key, sum);
      else sums.delete(key);
      if (open > 0) mine.set(key, open);
      else mine.delete(key);
    }
  }

  /** A peer gone (a worker that exited; ALL_PEERS: every peer, whose counts come again): what it held no longer counts. */
  private peerGone(peer: string): void {
    if (peer === ALL_PEERS) {
      for (const each of [...this.byPeer.keys()]) this.peerGone(each);
      return;
    }
    const own = this.byPeer.get(peer);
    if (own === undefined) return;
    for (const cap of ['address', 'member'] as const) this.peerHolds(peer, [...own[cap].keys()].map((key): Held => [cap, key, 0]));
    this.byPeer.delete(peer);
  }

  /** Open connections counted for an address (tests, metrics). */
  openFrom(address: string): number {
    return this.openByAddress.get(address);
  }

  /** Addresses whose count is kept, those at zero not yet swept included (tests). */
  addressesCounted(): number {
    return this.openByAddress.size;
  }
}

/** A catalog error with the seconds to wait before trying again (sent as Retry-After). */
export interface RetryableError extends SwitchboardError {
  retryAfter?: number;
}

export function withRetry(err: SwitchboardError, seconds: number): SwitchboardError {
  (err as RetryableError).retryAfter = Math.max(1, Math.ceil(seconds));
  return err;
}

/** Keys at zero kept at least, before a sweep (OpenCounts). */
const OPEN_COUNTS_SWEEP_AT = 1024;

/**
 * Open connections per key (an address, a member). A key's count is changed in place, and a key
 * at zero stays until a sweep, which runs when a new key finds the map twice as big as after the
 * last one (at least OPEN_COUNTS_SWEEP_AT): amortized O(1), and at most about twice the keys that
 * have connections open, plus that many.
 *
 * Why not delete at zero: a poller's count goes to zero at each answer and back at its next poll,
 * and V8 shrinks a Map's table at a delete that leaves it under half full, allocating the new
 * table in the old generation when the map is old (as one that lives with the server is): old
 * garbage for major GCs to collect, most of what a long poll left in the old generation (a
 * sampling heap profile of `bench/costs/costs.ts poll`'s load). test/young-garbage.test.ts: 158
 * bytes of old generation per connection counted and released that way, none this way.
 */
class OpenCounts {
  private readonly counts = new Map<string, { n: number }>();
  private sweepAt = OPEN_COUNTS_SWEEP_AT;

  get(key: string): number {
    return this.counts.get(key)?.n ?? 0;
  }

  add(key: string, by: number): void {
    let cell = this.counts.get(key);
    if (cell === undefined) {
      if (by <= 0) return;
      if (this.counts.size >= this.sweepAt) this.sweep();
      this.counts.set(key, (cell = { n: 0 }));
    }
    cell.n = Math.max(0, cell.n + by);
  }

  /** Keys counted, those at zero included (tests). */
  get size(): number {
    return this.counts.size;
  }

  private sweep(): void {
    for (const [key, cell] of this.counts) if (cell.n === 0) this.counts.delete(key);
    this.sweepAt = Math.max(OPEN_COUNTS_SWEEP_AT, this.counts.size * 2);
  }
}

class AddressGuard implements CryptoGuard {
  constructor(
    private readonly limits: Limits,
    private readonly key: string,
  ) {}

  before(): void {
    this.limits.refuseInDebtKey('auth', this.key, 'too many tokens from your address failed to verify (--auth-failure-rate)');
  }

  failed(): void {
    this.limits.chargeKey('auth', this.key, 1);
  }
}

/** Keys in debt of one budget, with when each will have paid back (Limits.charge). */
class Debts {
  private readonly until = new Map<string, number>();
  private sweepAt = DEBTS_SWEEP_AT;

  get size(): number {
    return this.until.size;
  }

  owe(key: string, until: number, now: number): void {
    if (this.until.size >= this.sweepAt && !this.until.has(key)) {
      for (const [k, t] of this.until) if (t <= now) this.until.delete(k);
      this.sweepAt = Math.max(DEBTS_SWEEP_AT, this.until.size * 2);
    }
    this.until.set(key, until);
  }

  forget(key: string): void {
    this.until.delete(key);
  }

  /** Milliseconds until `key` has paid back (0: it owes nothing, and is forgotten). */
  left(key: string, now: number): number {
    const until = this.until.get(key);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.until.delete(key);
    return 0;
  }
}

function prune(map: Map<string, RateLimiter>): void {
  for (const [key, bucket] of map) if (bucket.idle) map.delete(key);
  // Every bucket busy (a flood of fresh keys): drop the oldest half rather than grow.
  if (map.size >= MAX_BUCKETS) {
    let n = map.size / 2;
    for (const key of map.keys()) {
      if (n-- <= 0) break;
      map.delete(key);
    }
  }
}
