// Bytes a bench server allocated on its JavaScript heap, bytes its minor GCs promoted to the old
// generation, and the time its GCs took on the main thread, since it started: from V8's record of each GC (v8.GCProfiler), so no flag and
// no log to parse. Allocated = what the heap grew by between collections (used before a GC less
// used after the one before), which is what `--trace-gc-nvp` calls `allocated`.
import v8 from 'node:v8';

let profiler = new v8.GCProfiler();
profiler.start();
let allocated = 0;
let promoted = 0;
let gcMicros = 0;
let lastUsed = v8.getHeapStatistics().used_heap_size;

function oldSpaceUsed(stats) {
  return stats.heapSpaceStatistics.find((s) => s.spaceName === 'old_space')?.spaceUsedSize ?? 0;
}

/** Totals so far: `{ allocatedBytes, promotedBytes, gcMicros }`. */
export function allocations() {
  const { statistics } = profiler.stop();
  for (const gc of statistics) {
    allocated += gc.beforeGC.heapStatistics.usedHeapSize - lastUsed;
    lastUsed = gc.afterGC.heapStatistics.usedHeapSize;
    gcMicros += gc.cost;
    if (gc.gcType === 'Scavenge') promoted += oldSpaceUsed(gc.afterGC) - oldSpaceUsed(gc.beforeGC);
  }
  const now = v8.getHeapStatistics().used_heap_size;
  allocated += now - lastUsed;
  lastUsed = now;
  profiler = new v8.GCProfiler();
  profiler.start();
  return { allocatedBytes: allocated, promotedBytes: promoted, gcMicros };
}
