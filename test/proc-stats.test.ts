/**
 * The benchmark's CPU accounting (bench/load/proc-stats.ts) tells a process's main thread from
 * its other threads: a major collection's marking runs on V8's helper threads, which the
 * collector's pauses do not show, and bench:connections reports it apart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { cpuMsOf, threadMsOf } from '../bench/load/proc-stats.js';

/**
 * Code that spins until the process has used `ms` more of CPU (not of wall time: on a busy
 * machine, as CI's running other test files beside this one, 600 ms of wall time gave 480 of CPU).
 */
const SPIN_CPU = (ms: number): string => `const from = process.cpuUsage(); while (process.cpuUsage(from).user < ${ms * 1000});`;

/** A node process whose worker thread spins for `ms` of CPU, then both wait to be killed. */
const SPIN = (ms: number): string => `
const { Worker } = require('node:worker_threads');
const w = new Worker('${SPIN_CPU(ms)} require("node:worker_threads").parentPort.postMessage("done"); setInterval(() => {}, 1000);', { eval: true });
w.on('message', () => console.log('done'));
setInterval(() => {}, 1000);
`;

describe('proc-stats', () => {
  it('counts the CPU of threads other than the main one apart', async () => {
    const child = spawn(process.execPath, ['-e', SPIN(600)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout, 'data');
      const all = cpuMsOf([child.pid!]);
      const { main, others: offMain } = threadMsOf([child.pid!]);
      // /proc counts in ticks of 10 ms; the main thread only started node and the worker.
      assert.ok(offMain >= 400, `off the main thread: ${offMain} ms`);
      assert.ok(main < 400, `main thread: ${main} ms of ${all}`);
      assert.deepEqual(threadMsOf([999_999_999]), { main: 0, others: 0 }, 'a process gone counts nothing');
    } finally {
      child.kill();
    }
  });

  it("leaves the main thread's own CPU out", async () => {
    const child = spawn(process.execPath, ['-e', `${SPIN_CPU(600)} console.log("done"); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout, 'data');
      const all = cpuMsOf([child.pid!]);
      const { main, others: offMain } = threadMsOf([child.pid!]);
      assert.ok(all >= 500 && main >= 500, `in all: ${all} ms, the main thread ${main}`);
      assert.ok(offMain < 300, `off the main thread: ${offMain} ms of ${all}`);
    } finally {
      child.kill();
    }
  });
});
