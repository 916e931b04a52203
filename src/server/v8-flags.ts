/**
 * V8 flags a server process should start with (`npm start` passes them; the primary of
 * `--workers` gives them to every worker it forks, unless the operator set them):
 *
 * - `--optimize-for-size`: V8 grows the old generation less eagerly past what is live and gives
 *   memory back sooner. Measured with `npm run bench:connections` (6,000 WebSocket + 2,000 SSE +
 *   2,000 long polls, 3 workers): 10.0 KB of RSS per connection against 15.4 without it, and the
 *   primary stayed at 64 MB instead of growing to 100; server CPU per delivery unchanged
 *   (`BENCH_ONLY=switchboard npm run bench`).
 * - `--max-semi-space-size=1`: a 1 MB young generation. V8 lets it grow to 16 MB × 3 under a
 *   burst of connections and keeps it: about 10 MB per process idle, more under load.
 *
 * Neither can be set once a process runs (v8.setFlagsFromString comes too late for the heap).
 * `--optimize-for-size` is not allowed in NODE_OPTIONS; `node --optimize-for-size
 * dist/src/cli/index.js serve` is how to run the CLI by hand with it.
 */
export const SERVER_V8_FLAGS: readonly string[] = ['--optimize-for-size', '--max-semi-space-size=1'];

/** `flags` less those the operator already set in `execArgv` or `nodeOptions` (either spelling: `-` or `_`). */
export function missingFlags(flags: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((a) => a.split('=')[0]!.replace(/_/g, '-'));
  return flags.filter((f) => !given.includes(f.split('=')[0]!));
}
