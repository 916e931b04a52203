// What a bench server leaves in the old generation, by where it was allocated: V8's sampling heap
// profiler (through node:inspector, in the server's own process) with
// `includeObjectsCollectedByMajorGC`, so that it keeps every sampled object that no minor GC
// collected: what minor GCs promoted, and what was allocated in the old generation directly (a
// long-lived Map's new table at a rehash: what allocations.mjs's `promoted` does not see), alive
// or since collected by a major GC. What dies young is dropped. Started and read over the IPC
// channel: `{cmd: 'old-garbage', action: 'start'}`, then `{..., action: 'stop'}` answers
// `{oldGarbage: [{ bytes, where }]}`, the allocation sites by their three innermost frames, most
// bytes first (bytes: V8's estimate from its samples, one per 512 bytes allocated on average).
//
// A major GC collects the young garbage of its moment too, which then counts here: with major GCs
// in the window (the default --heap-growing-percent=15 brings some), sites that only allocate much
// get a share. For promotions and old allocations alone, keep major GCs out of the window:
// BENCH_SWITCHBOARD_NODE_ARGS="--max-semi-space-size=4 --no-parallel-scavenge --initial-old-space-size=600"
// (the total then matches allocations.mjs's `promoted`, plus what is allocated old directly).
// Found this way: a Map of the connection counts deleted from at every long poll made an old
// table each time (session/limits.ts, OpenCounts).
import { Session } from 'node:inspector/promises';

let session;

/** Top sites of a sampling heap profile: `{ bytes, where }`, `where` the innermost frames, outermost first. */
function sites(profile, top = 15, frames = 3) {
  const bytes = new Map();
  const walk = (node, stack) => {
    const f = node.callFrame;
    const here = [...stack, `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`].slice(-frames);
    if (node.selfSize > 0) {
      const key = here.join(' < ');
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, []);
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top).map(([where, n]) => ({ bytes: n, where }));
}

export function answerOldGarbage() {
  process.on('message', async (msg) => {
    if (msg.cmd !== 'old-garbage') return;
    if (msg.action === 'start') {
      session = new Session();
      session.connect();
      await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true });
      process.send?.({ oldGarbage: [] });
      return;
    }
    const { profile } = await session.post('HeapProfiler.getSamplingProfile');
    await session.post('HeapProfiler.stopSampling');
    session.disconnect();
    process.send?.({ oldGarbage: sites(profile) });
  });
}
