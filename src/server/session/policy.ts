import { createHash, timingSafeEqual } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';
import { can, type Principal, type PrincipalKind, type Right, type RoomGrants } from '../auth/principal.js';
import type { CryptoGuard, VerifiedToken } from '../auth/token-verifier.js';

/** What a client presents: its token (if any), its address, and what it says of itself. */
export interface Credentials {
  /** A token and where it came from (undefined: none). A cookie token counts only when `cookieTrusted`. */
  token?: { token: string; via: 'header' | 'query' | 'cookie' | 'frame' } | undefined;
  /** False when the token came by cookie on a request another site could have made (CSRF). */
  cookieTrusted: boolean;
  address: string;
  /** The connection (or polling client) id this session will have. */
  connectionId: string;
  /** Name and member the client claims: believed only on an open server. */
  claimed: { name?: string | undefined; member?: string | undefined };
}

export interface PolicyOptions {
  /** Verifies user tokens; undefined: the server is open (no key configured). */
  verifier: { verify(token: string, guard?: CryptoGuard): Promise<VerifiedToken> } | undefined;
  /** The guard of a verification for a client at `address` (see TokenVerifier.verify); none: unbounded. */
  guard?: (address: string) => CryptoGuard;
  apiKey: string | undefined;
  /** With a verifier: what guests may do in `guestRooms`. */
  guests: 'none' | 'read' | 'write';
  guestRooms: readonly string[];
}

/** The system's grants field (it may do anything anyway: see `can`). */
const NO_GRANTS: RoomGrants = Object.freeze({});

/**
 * A principal as every request makes one (most are polls). A class, not an object literal, as
 * CheckedTicket in session.ts: V8 pretenures a literal's allocation site (allocates its objects
 * in the old generation at once) when most of them outlived a minor GC, and a held long poll's
 * principal lives as long as its hold. Found with V8's sampling heap profiler under the
 * lecture's `/longpoll` (100 pollers, 50 messages/s, `includeObjectsCollectedByMajorGC`): the
 * literal of openGuest was 5.2 MB of what reached the old generation in 10 s, and its pretenured
 * objects kept what they pointed at (young strings) alive through minor GCs; none with
 * `--no-allocation-site-pretenuring`.
 */
class RequestPrincipal implements Principal {
  constructor(
    readonly kind: PrincipalKind,
    readonly member: string,
    readonly name: string,
    readonly grants: RoomGrants,
    readonly expiresAt: number | undefined,
    readonly address: string,
  ) {}
}

/** Every right but admin, everywhere: a guest of an open server. */
const OPEN_GRANTS: RoomGrants = Object.freeze({ '*': Object.freeze(['read', 'write', 'create'] as const) });

/**
 * Principal → rights, in one place. Authenticates credentials into a Principal and answers
 * whether it may do a thing in a room.
 *
 * - Open server (no token key): every client is a guest with read, write and create everywhere,
 *   named as it says (as the lecture's routes always were); only the API key gives admin.
 * - Server with a key: a verified token makes a `user` with the token's `sub`, `name` and `rooms`
 *   (what the client says of itself is ignored); without a token a client is refused
 *   (UNAUTHORIZED) unless `guests` lets it in, with server-made names, in `guestRooms` only.
 * - The API key (`Bearer <key>`, compared in constant time) makes the `system` principal.
 */
export class Policy {
  private readonly apiKeyHash: Buffer | undefined;
  private readonly guestGrants: RoomGrants;

  constructor(private readonly options: PolicyOptions) {
    this.apiKeyHash = options.apiKey ? sha256(options.apiKey) : undefined;
    const rights: Right[] = options.guests === 'write' ? ['read', 'write'] : options.guests === 'read' ? ['read'] : [];
    this.guestGrants = Object.fromEntries(rights.length ? options.guestRooms.map((r) => [r, rights]) : []);
  }

  /** True when no token key is configured. */
  get open(): boolean {
    return this.options.verifier === undefined;
  }

  /** Throws UNAUTHORIZED (bad or missing token where one is needed) or TOKEN_EXPIRED. */
  async authenticate(c: Credentials): Promise<Principal> {
    return this.authenticateNow(c) ?? this.verified(c);
  }

  /**
   * What `authenticate` resolves with, at once, when no token needs verifying (the API key, a
   * guest, any client of an open server: most polls); undefined when one does. Throws as it rejects.
   */
  authenticateNow(c: Credentials): Principal | undefined {
    const token = trustedToken(c);
    if (token !== undefined && this.isApiKey(token)) {
      return new RequestPrincipal('system', 'system', 'system', NO_GRANTS, undefined, c.address);
    }
    if (!this.options.verifier) return this.openGuest(c);
    if (token !== undefined) return undefined;
    if (c.token?.via === 'cookie') throw new SwitchboardError('UNAUTHORIZED', 'a token in a cookie is not taken from another site: send it in the Authorization header');
    if (this.options.guests === 'none') throw new SwitchboardError('UNAUTHORIZED');
    return new RequestPrincipal('guest', `guest-${c.connectionId}`, `guest-${c.connectionId.slice(0, 4)}`, this.guestGrants, undefined, c.address);
  }

  /** Throws unless `p` holds `right` in `room`: UNAUTHORIZED for a guest of a keyed server (a token would help), FORBIDDEN otherwise. */
  authorize(p: Principal, room: string, right: Right): void {
    if (can(p, room, right)) return;
    if (p.kind === 'guest' && !this.open) throw new SwitchboardError('UNAUTHORIZED', `guests may not ${right} in ${room}`);
    throw new SwitchboardError('FORBIDDEN', `no ${right} right in ${room}`);
  }

  /**
   * Throws UNAUTHORIZED when `p` is a guest of a keyed server doing `what` needs a lasting
   * identity for: a reaction (one per member and emoji) or a read position (one per member). The
   * server names such a guest per connection, or per request over HTTP, so one guest would be as
   * many members as it makes requests: a count it inflates at will, readers that are no one, and
   * entries a read-only guest writes to the log (pushing history out of retention).
   */
  requireLastingIdentity(p: Principal, what: string): void {
    if (p.kind === 'guest' && !this.open) throw new SwitchboardError('UNAUTHORIZED', `guests of this server have no lasting identity to ${what} with`);
  }

  /** The user of a token that needs verifying (authenticateNow said so). */
  private async verified(c: Credentials): Promise<Principal> {
    const v = await this.options.verifier!.verify(trustedToken(c)!, this.options.guard?.(c.address));
    return new RequestPrincipal('user', v.member, v.name, v.grants, v.expiresAt, c.address);
  }

  private openGuest(c: Credentials): Principal {
    const member = c.claimed.member ?? c.connectionId;
    return new RequestPrincipal('guest', member, c.claimed.name ?? `guest-${member.slice(0, 4)}`, OPEN_GRANTS, undefined, c.address);
  }

  private isApiKey(token: string): boolean {
    return this.apiKeyHash !== undefined && timingSafeEqual(sha256(token), this.apiKeyHash);
  }
}

/** The token of `c` that counts: a cookie's only when the request could not come from another site. */
function trustedToken(c: Credentials): string | undefined {
  return c.token && (c.token.via !== 'cookie' || c.cookieTrusted) ? c.token.token : undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
