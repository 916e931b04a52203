/**
 * The values of the cookies `names` in a Cookie header (undefined for one that is not there), in
 * the order of `names`, as `cookie`'s parse reads them (the first of each name, trimmed of spaces
 * and tabs, %-decoded when it decodes), without making the object of every cookie: the others
 * are skipped, not sliced. Every lecture poll reads two cookies.
 */
export function readCookies(header: string, names: readonly string[]): (string | undefined)[] {
  const found = new Array<string | undefined>(names.length).fill(undefined);
  const len = header.length;
  if (len < 2) return found;
  let left = names.length;
  let index = 0;
  do {
    const eq = header.indexOf('=', index);
    if (eq === -1) break;
    let end = header.indexOf(';', index);
    if (end === -1) end = len;
    if (eq > end) {
      // A pair without `=`: start again after the last `;` before this `=`.
      index = header.lastIndexOf(';', eq - 1) + 1;
      continue;
    }
    const keyStart = trimStart(header, index, eq);
    const keyLength = trimEnd(header, keyStart, eq) - keyStart;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (keyLength === name.length && found[i] === undefined && header.startsWith(name, keyStart)) {
        const valueStart = trimStart(header, eq + 1, end);
        found[i] = decode(header.slice(valueStart, trimEnd(header, valueStart, end)));
        left--;
        break;
      }
    }
    if (left === 0) break;
    index = end + 1;
  } while (index < len);
  return found;
}

/** The first index of `text` in [start, end) that is not a space or a tab (end when none). */
function trimStart(text: string, start: number, end: number): number {
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  return start;
}

/** One past the last index of `text` in [start, end) that is not a space or a tab (start when none). */
function trimEnd(text: string, start: number, end: number): number {
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  return end;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** `cookie`'s decode: decodeURIComponent, or the value as it is when that throws. Escapes of ASCII characters (a cursor's `%3A`) are decoded here, without it. */
function decode(value: string): string {
  let percent = value.indexOf('%');
  if (percent === -1) return value;
  let out = '';
  let from = 0;
  while (percent !== -1) {
    const code = percent + 2 < value.length ? (hex(value.charCodeAt(percent + 1)) << 4) | hex(value.charCodeAt(percent + 2)) : -1;
    // A malformed escape: decodeURIComponent would throw.
    if (code < 0) return value;
    // Beyond ASCII: a UTF-8 sequence for decodeURIComponent to read (and judge).
    if (code >= 0x80) return decodeAll(value);
    out += value.slice(from, percent) + String.fromCharCode(code);
    from = percent + 3;
    percent = value.indexOf('%', from);
  }
  return out + value.slice(from);
}

/** A hexadecimal digit's value, or a negative number (so that a pair with one stays negative). */
function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -0x100;
}

function decodeAll(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
