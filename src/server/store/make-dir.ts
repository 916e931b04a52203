import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Creates the folder `dir` and its missing parents, one level at a time from the nearest one that
 * exists. Throws an Error naming the folder and why it cannot be made (a parent that is a file, a
 * file system that takes no folders, no permission). Node 20's `mkdirSync(dir, {recursive: true})`
 * never returns on some such file systems (under /proc it loops: ENOENT, then EEXIST).
 */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !existsSync(at); ) {
    missing.push(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Made meanwhile by another process: as good as made here.
      if (e.code === 'EEXIST' && isDirectory(level)) continue;
      throw new Error(`cannot create the data folder ${dir}: ${e.code ?? e.message} at ${level}`);
    }
  }
  if (!isDirectory(dir)) throw new Error(`cannot create the data folder ${dir}: it is a file`);
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
