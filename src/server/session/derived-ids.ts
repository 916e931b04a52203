import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';

/** Ids remembered per kind at most; past it that memory is emptied and fills again. */
export const MAX_REMEMBERED_IDS = 10_000;

/**
 * Connection ids the server derives, rather than draws, so that they stay the same where they
 * must: after a restart, on every node, and on every transport of one client. Each is an
 * HMAC-SHA256 under a key of its own derived from the store's secret (MessageStore.nodeSecret),
 * which lives as long as the data and is shared by whoever shares it. Keyed, because others see
 * the ids (every entry's `from`, every presence notice):
 *
 * - `anonymous(address)`: the id of an anonymous one-request client of an open server (a `curl`
 *   POST that names nobody), `anon-` and 12 base64url characters (72 bits) of the HMAC of its
 *   address (clientAddress). The id is the sender of its messages, so it scopes their clientIds:
 *   a retry is recognised only while the id stays the same. A plain hash of an IPv4 address gives
 *   the address back after 2^32 guesses.
 * - `connection(member, claim)`: the connection id of a token's user on a keyed server who says
 *   a connection id of its own (`connection=`: the SDK says one per client, on every transport
 *   and reconnection), `c-` and 16 base64url characters (96 bits) of the HMAC of the member and
 *   the claim. The client is then one connection on all its transports (presence lists it once,
 *   on its new transport at once after a switch or a reconnection) while no one can take another
 *   member's connection id: the member is in the HMAC, and only its token names it.
 *
 * An HMAC costs more than the rest of a request's handshake, so ids are remembered by what they
 * are made from, at most MAX_REMEMBERED_IDS of each kind: a client that comes with ever new
 * addresses or claims makes the server compute one per request, as it would without the memory,
 * and never holds more than that bound.
 */
export class DerivedIds {
  private readonly anonymousIds = new Keyed('switchboard anonymous senders', 'anon-', 12);
  private readonly connectionIds = new Keyed('switchboard claimed connections', 'c-', 16);

  /** Sets the keys from the store's secret; called once the store is open, before any request. */
  setSecret(secret: Buffer): void {
    this.anonymousIds.setSecret(secret);
    this.connectionIds.setSecret(secret);
  }

  /** The id of the anonymous client at `address`. STORE_UNAVAILABLE before setSecret (the server has not started). */
  anonymous(address: string): string {
    return this.anonymousIds.idOf(address);
  }

  /** The connection id of `member`'s client that claims `claim`. STORE_UNAVAILABLE before setSecret. */
  connection(member: string, claim: string): string {
    // The claim holds no newline (a clientId's characters, checked by the handshake): what
    // follows the last one is the claim, so no other member and claim make the same text.
    return this.connectionIds.idOf(`${member}\n${claim}`);
  }

  /** Ids remembered now, of each kind (tests). */
  get remembered(): { anonymous: number; connection: number } {
    return { anonymous: this.anonymousIds.size, connection: this.connectionIds.size };
  }
}

/** One kind of derived id: its key (made once, a KeyObject) and its bounded memory. */
class Keyed {
  private key: KeyObject | undefined;
  private readonly ids = new Map<string, string>();

  constructor(
    /** What the key is for: whatever else is ever derived from the secret says nothing of this one. */
    private readonly purpose: string,
    private readonly prefix: string,
    private readonly length: number,
  ) {}

  setSecret(secret: Buffer): void {
    this.key = createSecretKey(createHmac('sha256', secret).update(this.purpose).digest());
    this.ids.clear();
  }

  idOf(source: string): string {
    if (!this.key) throw new SwitchboardError('STORE_UNAVAILABLE', 'the server has not started');
    let id = this.ids.get(source);
    if (id === undefined) {
      if (this.ids.size >= MAX_REMEMBERED_IDS) this.ids.clear();
      id = `${this.prefix}${createHmac('sha256', this.key).update(source).digest('base64url').slice(0, this.length)}`;
      this.ids.set(source, id);
    }
    return id;
  }

  get size(): number {
    return this.ids.size;
  }
}
