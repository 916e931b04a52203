import { randomBytes } from 'node:crypto';

/** A random id of `bytes` bytes in base64url (8 characters for 6 bytes): connection ids, member ids, cookies. */
export function randomId(bytes = 6): string {
  return randomBytes(bytes).toString('base64url');
}
