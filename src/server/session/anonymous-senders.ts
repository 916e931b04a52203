import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';

/** Ids remembered by address at most; past it the memory is emptied and fills again. */
export const MAX_REMEMBERED_SENDERS = 10_000;

/**
 * The connection ids of anonymous one-request clients of an open server (a `curl` POST that names
 * nobody): `anon-` and 12 base64url characters (72 bits) of an HMAC-SHA256 of the client's address
 * (clientAddress). The id is the sender of its messages, so it scopes their clientIds: a retry is
 * recognised only while the id stays the same, after a restart and on every node too. Hence the
 * key comes from the store's secret (MessageStore.nodeSecret), which lives as long as the data
 * and is shared by whoever shares it. Keyed, because others see the id (every entry's `from`):
 * a plain hash of an IPv4 address gives the address back after 2^32 guesses.
 *
 * An HMAC costs more than the rest of a publish's handshake (node makes a key and a native hasher
 * each time), so ids are remembered by address, at most MAX_REMEMBERED_SENDERS of them: a client
 * that comes from ever new addresses makes the server compute one per publish, as it would
 * without the memory, and never holds more than that bound.
 */
export class AnonymousSenders {
  private key: KeyObject | undefined;
  private readonly ids = new Map<string, string>();

  /** Sets the key from the store's secret; called once the store is open, before any request. */
  setSecret(secret: Buffer): void {
    // A key of its own: whatever else is ever derived from the secret says nothing of this one.
    this.key = createSecretKey(createHmac('sha256', secret).update('switchboard anonymous senders').digest());
    this.ids.clear();
  }

  /** The id of the anonymous client at `address`. STORE_UNAVAILABLE before setSecret (the server has not started). */
  idOf(address: string): string {
    if (!this.key) throw new SwitchboardError('STORE_UNAVAILABLE', 'the server has not started');
    let id = this.ids.get(address);
    if (id === undefined) {
      if (this.ids.size >= MAX_REMEMBERED_SENDERS) this.ids.clear();
      id = `anon-${createHmac('sha256', this.key).update(address).digest('base64url').slice(0, 12)}`;
      this.ids.set(address, id);
    }
    return id;
  }

  /** Ids remembered now (tests). */
  get remembered(): number {
    return this.ids.size;
  }
}
