import { createHmac } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';

/**
 * The connection ids of anonymous one-request clients of an open server (a `curl` POST that names
 * nobody): `anon-` and 12 base64url characters (72 bits) of an HMAC-SHA256 of the client's address
 * (clientAddress). The id is the sender of its messages, so it scopes their clientIds: a retry is
 * recognised only while the id stays the same, after a restart and on every node too. Hence the
 * key comes from the store's secret (MessageStore.nodeSecret), which lives as long as the data
 * and is shared by whoever shares it. Keyed, because others see the id (every entry's `from`):
 * a plain hash of an IPv4 address gives the address back after 2^32 guesses.
 */
export class AnonymousSenders {
  private key: Buffer | undefined;

  /** Sets the key from the store's secret; called once the store is open, before any request. */
  setSecret(secret: Buffer): void {
    // A key of its own: whatever else is ever derived from the secret says nothing of this one.
    this.key = createHmac('sha256', secret).update('switchboard anonymous senders').digest();
  }

  /** The id of the anonymous client at `address`. STORE_UNAVAILABLE before setSecret (the server has not started). */
  idOf(address: string): string {
    if (!this.key) throw new SwitchboardError('STORE_UNAVAILABLE', 'the server has not started');
    return `anon-${createHmac('sha256', this.key).update(address).digest('base64url').slice(0, 12)}`;
  }
}
