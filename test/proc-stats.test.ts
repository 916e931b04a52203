/**
 * The benchmark's CPU accounting (bench/load/proc-stats.ts) tells a process's main thread from
 * its other threads: a major collection's marking runs on V8's helper threads, which the
 * collector's pauses do not show, and bench:connections reports it apart; and it counts the
 * sockets each process holds on a port (how bench:rolling-restart sees the clients' spread).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import net from 'node:net';
import { cpuMsOf, socketsOn, threadMsOf } from '../bench/load/proc-stats.js';

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
  it('counts the sockets a process holds on a port, by state: one listening, one per client accepted', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<void>((resolve) => {
      let n = 0;
      server.on('connection', () => ++n === 3 && resolve());
    });
    const clients = Array.from({ length: 3 }, () => net.connect(port, '127.0.0.1'));
    try {
      await accepted;
      // The clients' own sockets are this process's too, but on other local ports.
      assert.deepEqual(socketsOn(port, [process.pid]), [3]);
      assert.deepEqual(socketsOn(port, [process.pid], 'listen'), [1]);
      assert.deepEqual(socketsOn(port, [2 ** 22 + 1]), [0], 'a process that is not there holds none');
    } finally {
      for (const c of clients) c.destroy();
      server.close();
    }
  });

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
