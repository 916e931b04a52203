const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A random id of `length` characters of [0-9a-zA-Z] (Web Crypto: Node 20 and browsers alike). */
export function randomId(length = 12): string {
  const bytes = new Uint8Array(length);
  globalThis.crypto.getRandomValues(bytes);
  let out = '';
  // 62 does not divide 256: the slight bias is harmless for ids that only need to be unique.
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** UTF-8 length of a string without allocating (the wire inspector counts every frame). */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Most characters of a wire event's `detail`. */
const MAX_DETAIL = 16 * 1024;

/** The whole of a payload for the wire inspector, cut past 16 KiB (saying how much was cut). */
export function detailOf(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}… (${text.length - MAX_DETAIL} more characters)` : text;
}

/** A one-line preview of a payload for the wire inspector. */
export function summarize(text: string, max = 400): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
