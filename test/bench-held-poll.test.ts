/**
 * The held-poll server of bench/costs (`COSTS_POLL_KINDS=held-longpoll`): Switchboard's native
 * long polls of room `bench` taken straight to Hub.holdPoll, everything else served by
 * Switchboard. What it measures is only worth reading if it answers as the route does: held at
 * the head until a message comes, at once behind it, with the cursor the next poll goes on from.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServerProcess } from '../bench/lib.js';

interface Answer {
  entries: { type: string; seq: number; text?: string }[];
  cursor: string;
  more: boolean;
}

describe('bench/costs held-poll server', () => {
  let server: ServerProcess;
  let base: string;
  before(async () => {
    server = await ServerProcess.start('../costs/switchboard-held-poll-server.mjs');
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.stop());

  const publish = async (text: string): Promise<number> => {
    const r = await fetch(`${base}/api/rooms/bench/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    assert.equal(r.status, 201);
    return ((await r.json()) as { seq: number }).seq;
  };

  it('holds a long poll at the head until a message comes, answers one behind at once, and leaves other requests to Switchboard', async () => {
    const start = (await (await fetch(`${base}/api/rooms/bench/poll`)).json()) as Answer;
    let answered = false;
    const held = fetch(`${base}/api/rooms/bench/longpoll?after=${start.cursor}&timeout=5000`).then(async (r) => {
      answered = true;
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      return (await r.json()) as Answer;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, 'held while nothing came');
    const seq = await publish('one');
    const first = await held;
    assert.deepEqual(first.entries.map((e) => [e.seq, e.text]), [[seq, 'one']]);

    // Behind the head: at once, from the cursor on.
    await publish('two');
    const behind = (await (await fetch(`${base}/api/rooms/bench/longpoll?after=${first.cursor}&timeout=5000`)).json()) as Answer;
    assert.deepEqual(behind.entries.map((e) => e.text), ['two']);

    // Its timeout answers with nothing, the cursor unmoved.
    const quiet = (await (await fetch(`${base}/api/rooms/bench/longpoll?after=${behind.cursor}&timeout=200`)).json()) as Answer;
    assert.deepEqual(quiet.entries, []);
    assert.equal(quiet.cursor, behind.cursor);

    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });
});
