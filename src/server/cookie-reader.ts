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

function decode(value: string): string {
  if (value.indexOf('%') === -1) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
