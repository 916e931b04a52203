import type { JsonValue } from './types.js';

/**
 * The rules of a message's payload beyond its text (`data`, `event`), shared by the server's
 * validation and the SDK. Pure: no I/O.
 */

/** Event names: 1-64 of A-Z a-z 0-9 _ . : - */
export const EVENT_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * How deep `data` may nest (arrays and objects within each other). Deeper data is refused
 * before anything recursive (JSON.stringify, an equality check) walks it.
 */
export const MAX_DATA_DEPTH = 64;

/** Why a value cannot be a message's `data`. */
export type DataProblem = 'not-json' | 'too-deep' | 'lone-surrogate';

/**
 * The first reason `value` cannot be a message's `data`, or undefined when it is a JSON value
 * (finite numbers, plain objects and arrays) nesting at most `maxDepth` levels whose strings,
 * keys included, are well-formed Unicode. Walks without recursion, so any input is safe.
 */
export function dataProblem(value: unknown, maxDepth = MAX_DATA_DEPTH): DataProblem | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'not-json';
      continue;
    }
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return 'lone-surrogate';
      continue;
    }
    if (typeof v !== 'object') return 'not-json';
    if (depth >= maxDepth) return 'too-deep';
    if (Array.isArray(v)) {
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return 'not-json';
    for (const [key, item] of Object.entries(v)) {
      if (!key.isWellFormed()) return 'lone-surrogate';
      stack.push([item, depth + 1]);
    }
  }
  return undefined;
}

/** True when `a` and `b` are the same JSON value (object keys in any order). Both absent is equal too. */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]!));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k]!, b[k]!));
}
