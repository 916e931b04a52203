/**
 * The old generation's headroom (src/server/heap-headroom.ts): raised to what a broadcast to the
 * held long polls promotes, never below the start's, and V8 does take the flag in a running
 * process (a child process counts its major collections with and without it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { HELD_POLL_PROMOTION_BYTES, HeapHeadroom, MAX_GROWING_PERCENT, RAISE_PAST, growingPercent, startingGrowingPercent } from '../src/server/heap-headroom.js';
import { waitFor } from './helpers.js';

const MB = 1024 * 1024;

describe('heap headroom', () => {
  it('raises the growth to what the held polls promote, in steps of 5, up to the ceiling, when that is more than twice the start’s', () => {
    assert.equal(growingPercent(15, 0, 100 * MB), 15);
    assert.equal(growingPercent(15, 1000, 100 * MB), 15, '5 MB is under 15% of 100 MB');
    // 10,000 polls of 5 KB: 50 MB over 100 MB live.
    assert.equal(growingPercent(15, 10_000, 100 * MB), 50);
    assert.equal(growingPercent(15, 6_800, 100 * MB), 35, '33.2 rounded up to a step: past twice 15');
    assert.equal(growingPercent(15, 4_000, 100 * MB), 15, '20 (19.5 rounded up) is not past twice 15: one major collection a broadcast either way');
    assert.equal(growingPercent(15, 5_800, 100 * MB), 15, '30 is not past twice 15');
    assert.equal(RAISE_PAST, 2);
    assert.equal(growingPercent(15, 100_000, 100 * MB), MAX_GROWING_PERCENT);
    assert.equal(growingPercent(40, 4_000, 100 * MB), 40, 'the operator’s own is the floor');
    assert.equal(growingPercent(15, 10, 0), 15);
    assert.equal(HELD_POLL_PROMOTION_BYTES, 5 * 1024);
  });

  it('reads the start’s flag, in either spelling; 0 (V8’s own growth) and none leave the heap alone', () => {
    assert.equal(startingGrowingPercent(['--max-semi-space-size=4', '--heap-growing-percent=15']), 15);
    assert.equal(startingGrowingPercent(['--heap_growing_percent=30']), 30);
    assert.equal(startingGrowingPercent(['--heap-growing-percent=0']), undefined);
    assert.equal(startingGrowingPercent(['--max-semi-space-size=4']), undefined);
  });

  it('keeps the peak of held polls over its window (a broadcast empties them for a moment), and restores the start’s on stop', () => {
    const flags: string[] = [];
    let held = 10_000;
    const headroom = new HeapHeadroom(15, () => held, (f) => flags.push(f), () => 100 * MB);
    headroom.adjust();
    assert.equal(headroom.percent, 50);
    held = 100; // answered, not yet back
    headroom.adjust();
    assert.equal(headroom.percent, 50);
    for (let i = 0; i < 30; i++) headroom.adjust();
    assert.equal(headroom.percent, 15, 'gone for the whole window');
    headroom.stop();
    assert.deepEqual(flags, ['--heap-growing-percent=50', '--heap-growing-percent=15']);
  });

  it('takes the polls and the heap of one sample: connections coming in (both growing) raise nothing the last sample would not', () => {
    const flags: string[] = [];
    let held = 0;
    let used = 20 * MB;
    const headroom = new HeapHeadroom(15, () => held, (f) => flags.push(f), () => used);
    // 30 s of connections: 3,400 polls held at the end in a heap of 100 MB (17%, not past twice 15).
    for (let s = 1; s <= 30; s++) {
      held = Math.round((3400 * s) / 30);
      used = 20 * MB + (80 * MB * s) / 30;
      headroom.adjust();
    }
    assert.deepEqual(flags, [], 'the most polls (3,400) in the least heap (23 MB) would have asked for 75');
    // A heap that shrinks after a collection with the polls still held: that sample counts.
    used = 50 * MB;
    headroom.adjust();
    assert.equal(headroom.percent, 35, '3,400 polls of 5 KB in 50 MB: 34%, past twice 15');
  });

  it('V8 takes the flag in a running process: fewer major collections for the same garbage', async () => {
    // Rounds of objects that live across minor collections and die the round after: what the
    // next requests of held polls are to a broadcast.
    const script = `
      const v8 = require('node:v8');
      const { PerformanceObserver, constants } = require('node:perf_hooks');
      let majors = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++; }).observe({ entryTypes: ['gc'] });
      const live = Array.from({ length: 400000 }, (_, i) => ({ i, s: 'x' + i }));
      let keep = [];
      async function phase() {
        majors = 0;
        for (let round = 0; round < 30; round++) {
          keep = [];
          for (let i = 0; i < 100000; i++) keep.push({ a: i, b: 'y' + i, c: [i, i] });
          await new Promise((r) => setTimeout(r, 5));
        }
        await new Promise((r) => setTimeout(r, 50));
        return majors;
      }
      (async () => {
        const capped = await phase();
        v8.setFlagsFromString('--heap-growing-percent=100');
        await phase(); // the limit is set anew at the end of the next major collection
        const raised = await phase();
        console.log(JSON.stringify({ capped, raised, live: live.length }));
      })();`;
    const child = spawn(process.execPath, ['--max-semi-space-size=4', '--no-parallel-scavenge', '--heap-growing-percent=15', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((resolve) => child.once('exit', resolve));
    const { capped, raised } = JSON.parse(out) as { capped: number; raised: number };
    assert.ok(capped >= 6, `capped: ${capped} major collections`);
    // A third fewer at least (here 7-8 against 19-24; the flag not taken, as many). 15 rounds and
    // half as many were too few to count on: a CI run had 5 against 9.
    assert.ok(raised * 3 <= capped * 2, `raised: ${raised} against ${capped} capped`);
  });

  it('--no-heap-headroom keeps the start’s value: no headroom kept, none reported', { timeout: 30_000 }, async () => {
    // The built CLI (npm test builds first), as `npm start` runs it; npm-start.test.ts sees the gauge at 15 without the flag.
    const child = spawn(process.execPath, ['--heap-growing-percent=15', 'dist/src/cli/index.js', 'serve', '--port', '0', '--store', 'memory', '--no-heap-headroom'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_FORMAT: 'json' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitFor(() => out.includes('Switchboard listening'), 20_000, 'the server to listen');
      const { port } = JSON.parse(out.split('\n').find((l) => l.includes('Switchboard listening'))!) as { port: number };
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^# TYPE switchboard_connections gauge$/m, 'the metrics were read');
      assert.doesNotMatch(metrics, /switchboard_heap_growing_percent/);
    } finally {
      child.kill();
    }
  });
});
