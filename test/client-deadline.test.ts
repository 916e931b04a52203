/**
 * The SDK's deadlines on answers that come by I/O (src/client/deadline.ts): an answer that came
 * in time, while this process's event loop was busy past the deadline, is taken, not declared
 * late. Real I/O: a child process's pipe, and a server in a child process that answers while
 * this one is blocked.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { deadline } from '../src/client/deadline.js';
import { ConnectionError } from '../src/client/errors.js';
import { httpRequest, type HttpTarget } from '../src/client/http-request.js';
import { NodeProcess } from './fixtures/node-process.js';

/** Holds the event loop for `ms`, as a process busy with thousands of clients does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SDK deadlines: an answer that came in time while the loop was busy', () => {
  it('is read before the deadline gives up (a pipe written while the loop was blocked)', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("answer")'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const order: string[] = [];
    let cancel: () => void = () => {};
    const settled = new Promise<void>((resolve) => {
      child.stdout.once('data', () => {
        order.push('answer');
        cancel();
        resolve();
      });
      cancel = deadline(50, () => {
        order.push('late');
        resolve();
      });
    });
    // The child starts, writes and exits while this loop is held past the 50 ms deadline.
    busy(1500);
    await settled;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(order, ['answer'], 'the deadline ran before the waiting answer was read');
  });

  it('still gives up when no answer comes', async () => {
    const started = performance.now();
    await new Promise<void>((resolve) => deadline(30, resolve));
    assert.ok(performance.now() - started >= 29);
  });

  it('does not run once cancelled', async () => {
    let ran = false;
    deadline(10, () => (ran = true))();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ran, false);
  });

  describe('an HTTP request of the SDK (a server in another process)', () => {
    let node: NodeProcess;
    let target: HttpTarget;
    before(async () => {
      node = await NodeProcess.start({ STORE: 'memory' });
      target = { base: new URL(node.url), token: undefined, wire: () => {} };
      // A keep-alive connection, so the next request goes out at once.
      await httpRequest(target, { method: 'GET', path: '/api/rooms', timeoutMs: 5000 });
    });
    after(async () => {
      await node.kill('SIGTERM');
    });

    it('resolves when the answer came while the loop was busy past its timeout', async () => {
      let tried = 0;
      for (let attempt = 0; attempt < 10 && tried < 3; attempt++) {
        let done = false;
        const answered = httpRequest<{ rooms: unknown[] }>(target, { method: 'GET', path: '/api/rooms', timeoutMs: 200 }).then(
          (r) => ((done = true), r),
          (err: unknown) => ((done = true), err),
        );
        // Two turns: fetch has written the request (one is not enough for undici) and the server,
        // another process, answers while this loop is held past the deadline.
        await turn();
        await turn();
        if (done) {
          await answered;
          continue; // answered before the loop was held: no test of the deadline
        }
        tried++;
        busy(700);
        const result = await answered;
        if (result instanceof ConnectionError) assert.fail(`the answer was waiting, and the request said ${result.code}: ${result.message}`);
        assert.ok(Array.isArray((result as { rooms: unknown[] }).rooms));
      }
      assert.ok(tried > 0, 'every answer came before the loop was held');
    });
  });
});
