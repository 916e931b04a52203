import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';
import { recordId } from '../presence/presence-store.js';

/** What a presence ticket says: who is present in which room, through which connection. */
export interface TicketClaims {
  room: string;
  connectionId: string;
  member: string;
  name: string;
  /**
   * Tells apart the joins of one connection id (each of a client's polling transports joins with
   * its id: a switch from polling to long polling holds two tickets at once, for a while). Absent
   * in the lecture's tickets, and in those of an older build.
   */
  attachment?: string;
}

/** A ticket's claims, with the id of its presence record (recordId: made once per ticket, not per poll). */
export interface VerifiedClaims extends TicketClaims {
  record: string;
}

/** Checked tickets remembered at most (a poller's ticket is checked once, not at every poll). */
const MAX_VERIFIED = 10_000;

function checkClaims(claims: VerifiedClaims, issued: number, room: string, now: number): VerifiedClaims {
  if (claims.room !== room) throw new SwitchboardError('INVALID_SESSION', 'issued for another room');
  if (now - issued > TICKET_MAX_AGE_MS) throw new SwitchboardError('INVALID_SESSION', 'expired');
  return claims;
}

/** Tickets older than this are refused: a polling client joins again (one POST). */
export const TICKET_MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * Presence for polling clients, without a server-side table: joining (a POST, limited like a
 * new connection) returns a ticket, an HMAC-signed statement of room, connection, member and
 * name; each poll that carries it keeps that member present. A GET without a valid ticket never
 * writes to presence, so anonymous reads cannot fill the log with joins. Every node that shares
 * the key (see server.ts) accepts the tickets of the others.
 */
export class PresenceTickets {
  /** Tickets whose signature was checked, with what they say: a poller sends the same one with every request. */
  private readonly verified = new Map<string, { claims: VerifiedClaims; issued: number }>();

  constructor(private key: Buffer = randomBytes(32)) {}

  /** Replaces the key (the one shared by a cluster, once known): tickets of the old key are refused from then on. */
  setKey(key: Buffer): void {
    this.key = key;
    this.verified.clear();
  }

  issue(claims: TicketClaims, now = Date.now()): string {
    // The attachment last: a node of an older build reads the first five and ignores it.
    const fields = [claims.room, claims.connectionId, claims.member, claims.name, now, ...(claims.attachment !== undefined ? [claims.attachment] : [])];
    const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  /** The claims of a ticket issued for `room`; throws INVALID_SESSION for anything else. */
  verify(ticket: string, room: string, now = Date.now()): VerifiedClaims {
    const known = this.verified.get(ticket);
    if (known) return checkClaims(known.claims, known.issued, room, now);
    const dot = ticket.indexOf('.');
    if (ticket.length > 1024 || dot < 0) throw new SwitchboardError('INVALID_SESSION');
    const payload = ticket.slice(0, dot);
    const given = Buffer.from(ticket.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(payload), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new SwitchboardError('INVALID_SESSION');
    const [r, connectionId, member, name, issued, attachment] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as [string, string, string, string, number, string?];
    const claims: VerifiedClaims = { room: r, connectionId, member, name, ...(attachment !== undefined ? { attachment } : {}), record: recordId(connectionId, attachment) };
    // Bounded: past it, the oldest half is forgotten (checked again when it comes back).
    if (this.verified.size >= MAX_VERIFIED) for (const k of [...this.verified.keys()].slice(0, MAX_VERIFIED / 2)) this.verified.delete(k);
    this.verified.set(ticket, { claims, issued });
    return checkClaims(claims, issued, room, now);
  }

  /** When a ticket this node verified was issued (epoch ms); undefined for one it has not verified. */
  issuedAt(ticket: string): number | undefined {
    return this.verified.get(ticket)?.issued;
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
