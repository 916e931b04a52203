/**
 * V8 flags of `--small-heap`: the primary of `--workers` starts every worker with them (unless
 * the operator set them on its command line or in NODE_OPTIONS). A trade, not a free win:
 *
 * - `--optimize-for-size`: V8 grows the old generation less eagerly past what is live and gives
 *   memory back sooner. `npm run bench:connections` (6,000 WebSocket + 2,000 SSE + 2,000 long
 *   polls, 3 workers): 10.0 KB of RSS per connection against 15.4 without, and a primary of
 *   64 MB instead of 100; WebSocket fan-out CPU unchanged (`BENCH_ONLY=switchboard npm run
 *   bench`), but about twice the server CPU per long poll answered (`bench/costs/costs.ts
 *   poll`: 160 ms per 1,000 against 83), whose garbage it collects more often.
 * - `--max-semi-space-size=1`: a 1 MB young generation. V8 lets it grow to 16 MB × 3 under a
 *   burst of connections and keeps it: about 10 MB per process idle.
 *
 * Neither can be set once a process runs (v8.setFlagsFromString comes too late for the heap), and
 * `--optimize-for-size` is not allowed in NODE_OPTIONS: a single process gets them from its
 * command line, `node --optimize-for-size --max-semi-space-size=1 …/switchboard serve`.
 */
export const SMALL_HEAP_V8_FLAGS: readonly string[] = ['--optimize-for-size', '--max-semi-space-size=1'];

/**
 * V8 flags every worker starts with (and `npm start`'s process): a young generation of at most
 * 4 MB per half instead of V8's 16. A burst of new connections leaves live objects behind, and
 * V8 doubles the young generation each time as much survived as it holds, up to 2 × 16 MB
 * touched (resident) per process, which the idle memory reducer gives back to V8 but mostly not
 * to the system. `bench/costs/costs.ts memory` at 2,000: 7-8 KB of RSS per WebSocket against
 * 16-18 without. The price is more frequent minor collections: per polling request answered,
 * `costs.ts poll` (3 alternating 12 s runs each, medians, ms per 1,000) gave 91.0 against 77.5
 * (native long poll), 77.5 against 86.1 (lecture /longpoll), 83.6 against 70.1 (lecture /poll):
 * at most some 15%, within this machine's noise; SSE latency p99 7.9-12.6 ms against 9.0-9.7.
 *
 * Measured and not taken: `--no-parallel-scavenge` (minor collections on the main thread alone).
 * It cut the main thread's GC time per long poll from 5.7-8.4 µs to 1.3-2.9 and the CPU per
 * request from 1.13 to 1.03 of Socket.IO's (native long poll; lecture `/longpoll` 1.27 → 1.05),
 * and the broadcast p99 to 50,000 in one room from 3.3-3.9 s to 1.7 s; but under a rolling
 * restart with the machine's cores busy (`npm run bench:rolling-restart -- --clients 5000
 * --server-args="--workers 2"` beside two busy loops) short-polling clients stopped getting
 * answers (lost 2,821 and 27,672 in two runs; none with the parallel default, or before).
 * Until that is understood it stays off.
 */
export const DEFAULT_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** `flags` less those the operator already set in `execArgv` or `nodeOptions` (either spelling: `-` or `_`). */
export function missingFlags(flags: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((a) => a.split('=')[0]!.replace(/_/g, '-'));
  return flags.filter((f) => !given.includes(f.split('=')[0]!));
}
