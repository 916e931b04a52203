// bench/servers/ipc.ts in plain JavaScript, for the built server (see switchboard-built-server.mjs).
export function answerStats() {
  process.on('message', (msg) => {
    if (msg.cmd !== 'stats') return;
    globalThis.gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external });
  });
}
