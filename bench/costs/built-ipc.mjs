// bench/servers/ipc.ts in plain JavaScript, for the built server (see switchboard-built-server.mjs).
import { allocations } from '../servers/allocations.mjs';
import { answerOldGarbage } from '../servers/old-garbage.mjs';

export function answerStats() {
  answerOldGarbage();
  process.on('message', (msg) => {
    if (msg.cmd !== 'stats') return;
    if (msg.gc !== false) globalThis.gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, heapTotal: mem.heapTotal, arrayBuffers: mem.arrayBuffers, ...allocations() });
  });
}

// `{cmd: 'snapshot', file}`: writes a heap snapshot (what an idle connection holds, by constructor).
process.on('message', async (msg) => {
  if (msg.cmd !== 'snapshot') return;
  const v8 = await import('node:v8');
  globalThis.gc?.();
  v8.writeHeapSnapshot(msg.file);
  process.send?.({ snapshot: msg.file });
});
