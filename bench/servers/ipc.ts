import { allocations } from './allocations.mjs';
import { answerOldGarbage } from './old-garbage.mjs';

/**
 * The benchmark's window into a server process: on `{cmd: 'stats'}` over the IPC channel it
 * answers with CPU time used so far, memory (after a GC when --expose-gc is on, unless asked
 * `{gc: false}`), and bytes
 * allocated and promoted so far (allocations.mjs); and on `{cmd: 'old-garbage'}` what it leaves in
 * the old generation, by allocation site (old-garbage.mjs).
 */
export function answerStats(extra: () => Record<string, number> = () => ({})): void {
  answerOldGarbage();
  process.on('message', (msg: { cmd?: string; gc?: boolean }) => {
    if (msg.cmd !== 'stats') return;
    if (msg.gc !== false) (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, ...allocations(), ...extra() });
  });
}
