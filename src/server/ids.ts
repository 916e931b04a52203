import { randomFillSync } from 'node:crypto';

/** Random bytes drawn from the system at once and handed out in slices: one syscall for many ids. */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * A random id of `bytes` bytes in base64url (8 characters for 6 bytes): connection ids, member
 * ids, cookies. As unpredictable as `randomBytes` (the same CSPRNG), drawn from a shared pool
 * because ids are made per request (every poll): one `randomFillSync` serves hundreds of them.
 */
export function randomId(bytes = 6): string {
  if (bytes > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(bytes)).toString('base64url');
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  // Each byte is used once: what was handed out is never handed out again.
  offset += bytes;
  return id;
}
