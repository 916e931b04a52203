import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root, found from this file up (the first folder with package.json and
 * tsconfig.json): the same whether the benches run from bench/ through tsx or compiled, from
 * dist/bench/ (the tests that import them, run built by `npm test`; the tests' own ROOT is this
 * one, test/fixtures/built.ts). Scripts and pages beside the benches (bench/costs/*.mjs,
 * bench/report.html) are the source tree's.
 */
export const REPO_ROOT = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'tsconfig.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no repository root above ${fileURLToPath(import.meta.url)}`);
  }
})();

/** The benches' folder of the source tree. */
export const BENCH_DIR = path.join(REPO_ROOT, 'bench');
