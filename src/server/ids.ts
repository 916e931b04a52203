import { randomFillSync } from 'node:crypto';

/** Random bytes drawn from the system at once and handed out in slices: one syscall for many ids. */
const POOL_SIZE = 4095; // a multiple of 3: the pool's base64url text splits into whole 3-byte groups
const pool = Buffer.allocUnsafe(POOL_SIZE);
/** The pool in base64url (4 characters per 3 bytes), encoded once per refill. */
let poolText = '';
let offset = POOL_SIZE;

/**
 * A random id of `bytes` bytes in base64url (8 characters for 6 bytes): connection ids, member
 * ids, cookies. As unpredictable as `randomBytes` (the same CSPRNG), drawn from a shared pool
 * because ids are made per request (every poll): one `randomFillSync` and one encoding serve
 * hundreds of them, each id then a slice of the encoded pool.
 */
export function randomId(bytes = 6): string {
  if (bytes > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(bytes)).toString('base64url');
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    poolText = pool.toString('base64url');
    offset = 0;
  }
  // Whole 3-byte groups are a slice of the pool's text; other lengths are encoded on their own.
  const id = bytes % 3 === 0 && offset % 3 === 0 ? poolText.slice((offset / 3) * 4, ((offset + bytes) / 3) * 4) : pool.toString('base64url', offset, offset + bytes);
  // Each byte is used once: what was handed out is never handed out again.
  offset += bytes;
  return id;
}
