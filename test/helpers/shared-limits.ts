import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { metricSample, request } from '../helpers.js';

/** The statuses of publishes made one after another, and the milliseconds from the first request sent to the last answer. */
export interface PacedPublishes {
  statuses: number[];
  spanMs: number;
}

/**
 * `n` publishes one after another, `gapMs` apart (past the time a spend takes to reach the other
 * workers or nodes): `publish(i)` sends the i-th and resolves with its status.
 */
export async function pacedPublishes(n: number, gapMs: number, publish: (i: number) => Promise<number>): Promise<PacedPublishes> {
  const statuses: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (i > 0 && gapMs > 0) await sleep(gapMs);
    statuses.push(await publish(i));
  }
  return { statuses, spanMs: performance.now() - start };
}

/**
 * One budget of `burst` publishes refilled at `perSecond`: the first `burst` pass, the rest are
 * 429, but for what the budget earned back while they were made. A busy machine (CI) that takes
 * a second or more over them gives back a publish a second: that is the budget at work, not a
 * budget given twice (which lets `burst` more pass at once).
 */
export function assertOneBudget({ statuses, spanMs }: PacedPublishes, burst: number, perSecond: number): void {
  assert.deepEqual(statuses.slice(0, burst), Array.from({ length: burst }, () => 200), `the burst passes: ${statuses.join(',')}`);
  const after = statuses.slice(burst);
  assert.ok(after.every((s) => s === 200 || s === 429), `200 or 429 past the burst: ${statuses.join(',')}`);
  const refilled = Math.floor((spanMs * perSecond) / 1000);
  const passed = after.filter((s) => s === 200).length;
  assert.ok(passed <= refilled, `${passed} passed past the burst of ${burst} in ${spanMs.toFixed(0)} ms, which earned back ${refilled}: ${statuses.join(',')}`);
}

/** Resolves, with how many, once the node at `url` has heard `n` counts of connections or more from the others (switchboard_shared_limit_counts_total{direction="heard"}). */
export async function heardCounts(url: string, n: number): Promise<number> {
  const name = 'switchboard_shared_limit_counts_total{direction="heard"}';
  const deadline = Date.now() + 5000;
  for (;;) {
    const answer = await request(`${url}/metrics`);
    // A scrape refused (429, past --query-rate's burst) says nothing: asked again.
    const got = answer.status === 200 ? metricSample(answer.body, name) : 0;
    if (got >= n) return got;
    if (Date.now() > deadline) assert.fail(`${n} counts heard at ${url} in 5 s: ${got}`);
    await sleep(20);
  }
}
