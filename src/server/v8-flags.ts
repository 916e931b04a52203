/**
 * V8 flags of `--small-heap`: the primary of `--workers` starts every worker with them (unless
 * the operator set them on its command line or in NODE_OPTIONS). A trade, not a free win:
 *
 * - `--optimize-for-size`: V8 grows the old generation less eagerly past what is live and gives
 *   memory back sooner. `npm run bench:connections` (6,000 WebSocket + 2,000 SSE + 2,000 long
 *   polls, 3 workers; before DEFAULT_V8_FLAGS existed): 10.0 KB of RSS per connection against 15.4 without, and a primary of
 *   64 MB instead of 100; WebSocket fan-out CPU unchanged (`BENCH_ONLY=switchboard npm run
 *   bench`), but about twice the server CPU per long poll answered (`bench/costs/costs.ts
 *   poll`: 160 ms per 1,000 against 83), whose garbage it collects more often.
 * - `--max-semi-space-size=1`: a 1 MB young generation. V8 lets it grow to 16 MB × 3 under a
 *   burst of connections and keeps it: about 10 MB per process idle.
 * - `--no-parallel-scavenge`, as by default (DEFAULT_V8_FLAGS): a minor collection of a young
 *   generation this small is cheaper on the main thread alone. `costs.ts poll`, native long
 *   poll, 2 alternating runs: 1.09 and 1.25 times Socket.IO's CPU per request against 1.40 and
 *   1.59 with the parallel default.
 *
 * None can be set once a process runs (v8.setFlagsFromString comes too late for the heap), and
 * `--optimize-for-size` and `--no-parallel-scavenge` are not allowed in NODE_OPTIONS: a single
 * process gets them from its command line, `node --optimize-for-size --max-semi-space-size=1
 * --no-parallel-scavenge …/switchboard serve`.
 */
export const SMALL_HEAP_V8_FLAGS: readonly string[] = ['--optimize-for-size', '--max-semi-space-size=1', '--no-parallel-scavenge'];

/**
 * V8 flags every worker starts with (and `npm start`'s process):
 *
 * - `--max-semi-space-size=4`: a young generation of at most 4 MB per half instead of V8's 16.
 *   A burst of new connections leaves live objects behind, and V8 doubles the young generation
 *   each time as much survived as it holds, up to 2 × 16 MB touched (resident) per process,
 *   which the idle memory reducer gives back to V8 but mostly not to the system.
 *   `bench/costs/costs.ts memory` at 2,000: 6-8 KB of RSS per WebSocket against 18-19 without.
 *   The price is a minor collection four times as often.
 * - `--no-parallel-scavenge`: minor collections on the main thread alone. A young generation
 *   this small leaves some 0.2 MB alive per collection, which one thread copies in about half a
 *   millisecond; handing it to helper threads cost more than the copying (their wake-ups, and the
 *   main thread waiting for a helper the OS had not scheduled: pauses of 3 ms instead of 0.4 on
 *   this 2-core machine). `costs.ts poll` (3 alternating runs, medians, CPU per 1,000 requests
 *   answered against Socket.IO's in the same run): native long poll 1.13 → 1.03, lecture
 *   `/longpoll` 1.27 → 1.05; the main thread's GC time per request 5.7-8.4 µs → 1.3-2.9.
 *   Major collections keep their concurrent marking and sweeping.
 * - `--heap-growing-percent=15`: after a major collection, the old generation may grow to 1.15
 *   times what survived before the next one, where V8 otherwise lets it grow up to four times. A
 *   connect burst promotes much that dies soon after (presence notices, pending writes), and so
 *   do the long pollers' requests and the pings while idle; without a cap each worker kept it:
 *   50,000 connections over 3 workers (`npm run bench:connections`, 1,000 rooms) had 241-280 MB
 *   of RSS per worker for 116 MB of live heap (a heap snapshot), 875-908 MB for the tree. With
 *   30 (the factor V8 itself takes when it optimizes for memory, this default until
 *   2026-12-04): 731-789 MB after the idle period in five runs, the old generation committing
 *   more as it went (379 → 428 MB over 35 s, its live part flat). With 15: 706.6-724.7 MB in
 *   three, broadcast p99 443-667 ms against 485-841 (the same hour, 2026-12-04). Polling, a few
 *   percent of a native long poll's CPU if anything (`costs.ts poll`, 2 alternating runs of 3
 *   pairs each, the pairs of a run spread by 0.1 or more): native long poll 1.18 and 1.14 times
 *   Socket.IO's CPU per request against 1.11 and 1.11, lecture `/longpoll` 1.19 and 1.16
 *   against 1.17 and 1.20; SQLite's acknowledged publishes 48,463 a second against 47,029.
 *   Many held long polls are the exception: what a broadcast to them promotes overruns the
 *   headroom several times, each a major collection of the whole heap. 10,000 long pollers on
 *   one process (2026-12-05): 1.01-1.14 s of server CPU per broadcast against 0.53-0.84 s with
 *   `--heap-growing-percent=0` (V8's own growth), for 5-12 MB more RSS; but 50,000 connections
 *   over 3 workers then took 738-969 MB (docs/operations.md, "Memory and GC"): an operator with
 *   memory to spare lifts it. Since then HeapHeadroom (heap-headroom.ts) raises it in the running
 *   process while long polls are held, to what a broadcast to them promotes.
 *
 * Without these flags (V8's defaults, a 16 MB young generation) an idle WebSocket takes three
 * times the memory, and polling costs a little less: 2-3% of the CPU per request answered, each
 * kind run at the same time as a copy of the server started without them (`COSTS_POLL_PAIRED=1
 * COSTS_POLL_ROUNDS=3 COSTS_POLL_BASELINE=<copy of bench/costs/switchboard-built-server.mjs under
 * a name without "switchboard">`, which bench/lib.ts starts without them; 2026-12-02: native long
 * poll 1.02, lecture `/longpoll` 1.03, medians of 3 pairs). An earlier measure, not paired,
 * read 0.92 against 1.03 of Socket.IO's.
 */
export const DEFAULT_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--no-parallel-scavenge', '--heap-growing-percent=15'];

/**
 * `flags` less those the operator already set in `execArgv` or `nodeOptions` (either spelling:
 * `-` or `_`; a boolean flag in either sense: `--parallel-scavenge` gives way to nothing of ours
 * named `--no-parallel-scavenge`, and the reverse).
 */
export function missingFlags(flags: readonly string[], execArgv: readonly string[], nodeOptions = ''): string[] {
  const name = (a: string): string => a.split('=')[0]!.replace(/_/g, '-').replace(/^--no-/, '--');
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(name);
  return flags.filter((f) => !given.includes(name(f)));
}
