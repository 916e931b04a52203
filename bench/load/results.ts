import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lastYardstick, type Yardstick } from './yardstick.js';
import { BENCH_DIR } from '../repo-root.js';

/** Where benches leave their results (gitignored); `npm run bench -- --report` reads them. */
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');

/** What every result file holds around the bench's own figures. */
export interface BenchResult<T = unknown> {
  bench: string;
  /** Distinguishes runs of one bench (sizes, servers): the file is `<bench>-<label>.json`. */
  label: string;
  at: string;
  /** The command line that reproduces it. */
  command: string;
  /** The machine's yardstick, when the bench measured one before it ran (bench/load/yardstick.ts). */
  machine?: Yardstick;
  data: T;
}

/** Writes a result as bench/results/<bench>-<label>.json, replacing the previous run of the same label. */
export function saveResult<T>(bench: string, label: string, data: T): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${bench}-${label.replace(/[^A-Za-z0-9_.-]+/g, '_')}.json`);
  const quote = (a: string): string => (/^[\w@%+=:,./-]*$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  // The variables that change what a bench measures (costs.ts reads its settings from COSTS_*).
  const names = ['BENCH_SERVER_CLI', 'BENCH_SERVER_NODE_ARGS', 'BENCH_SWITCHBOARD_NODE_ARGS', ...Object.keys(process.env).filter((k) => k.startsWith('COSTS_')).sort()];
  const env = names.map((k) => (process.env[k] ? `${k}=${quote(process.env[k])} ` : '')).join('');
  const command = `${env}npm run bench:${bench} -- ${process.argv.slice(2).map(quote).join(' ')}`.trim();
  const machine = lastYardstick();
  const result: BenchResult<T> = { bench, label, at: new Date().toISOString(), command, ...(machine ? { machine } : {}), data };
  writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
  return file;
}

/** Every result in bench/results, oldest first. */
export function loadResults(): BenchResult[] {
  let names: string[];
  try {
    names = readdirSync(RESULTS_DIR).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(readFileSync(path.join(RESULTS_DIR, n), 'utf8')) as BenchResult).sort((a, b) => a.at.localeCompare(b.at));
}
