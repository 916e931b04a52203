/**
 * A node that says its name (`node`: each worker of `--workers`) puts it in an
 * `x-switchboard-node` header on every HTTP answer, whatever wrote the answer's head: a route that
 * writes its own (the native and the lecture polls, held or at once, empty or not, HEAD too), the
 * router (REST, files, errors, 404, a preflight), or the stream of an SSE route. With the
 * security headers every answer has, once each. Two servers in one process keep their own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { headerTimes as times, requestHead as head, startServer } from './helpers.js';

describe('x-switchboard-node on every HTTP answer of a named node', () => {
  let a: Awaited<ReturnType<typeof startServer>>;
  let b: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    a = await startServer({ node: 'n-a' });
    b = await startServer({ node: 'n-b' });
    for (const s of [a, b]) assert.equal((await head(`${s.url}/api/rooms/r`, { method: 'PUT' })).status, 201);
  });
  after(async () => {
    await a.server.close();
    await b.server.close();
  });

  it('native and lecture polls (held, at once, empty, HEAD), REST, errors, files, SSE', async () => {
    const publish = (s: typeof a, text: string): Promise<unknown> => head(`${s.url}/api/rooms/r/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    const lecture = (s: typeof a, text: string): Promise<unknown> => head(`${s.url}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    for (const [s, node] of [[a, 'n-a'], [b, 'n-b']] as const) {
      const cursor = ((await (await fetch(`${s.url}/api/rooms/r/poll`)).json()) as { cursor: string }).cursor;
      const heldNative = head(`${s.url}/api/rooms/r/longpoll?after=${cursor}&timeout=5000`);
      // A lecture long poll held from the end of lobby: the seed cookie is set by its first answer.
      const heldLecture = head(`${s.url}/longpoll`);
      await new Promise((r) => setTimeout(r, 200));
      await publish(s, 'one');
      await lecture(s, 'two');
      const answers = {
        'native long poll, held': await heldNative,
        'native long poll, at once': await head(`${s.url}/api/rooms/r/longpoll?after=${cursor}`),
        'native long poll, timed out': await head(`${s.url}/api/rooms/r/longpoll?timeout=0`),
        'native long poll, HEAD': await head(`${s.url}/api/rooms/r/longpoll`, { method: 'HEAD' }),
        'native short poll': await head(`${s.url}/api/rooms/r/poll?after=${cursor}`),
        'lecture long poll, held': await heldLecture,
        'lecture poll, empty (204)': await head(`${s.url}/poll`),
        'lecture poll, a message': await head(`${s.url}/poll`, { headers: { cookie: `sb_seed=${encodeURIComponent(`${cursor.split(':')[0]}:0`)}` } }),
        'lecture poll, HEAD': await head(`${s.url}/poll`, { method: 'HEAD' }),
        'REST history': await head(`${s.url}/api/rooms/r/messages`),
        'an error (bad cursor)': await head(`${s.url}/api/rooms/r/poll?after=nope`),
        'a 404': await head(`${s.url}/api/nothing-here`),
        'a preflight': await head(`${s.url}/api/rooms`, { method: 'OPTIONS', headers: { origin: 'http://x.example', 'access-control-request-method': 'GET' } }),
        'an SSE stream': await head(`${s.url}/api/rooms/r/events`),
        'a file of the web app': await head(`${s.url}/`),
        '/healthz': await head(`${s.url}/healthz`),
      };
      for (const [what, answer] of Object.entries(answers)) {
        assert.ok(answer.status > 0, what);
        assert.equal(answer.headers['x-switchboard-node'], node, `${what} (${answer.status})`);
        assert.equal(times(answer.raw, 'x-switchboard-node'), 1, `${what}: once`);
        assert.equal(times(answer.raw, 'x-content-type-options'), 1, `${what}: nosniff once`);
      }
    }
  });

  it('a server without a name says none', async () => {
    const plain = await startServer();
    try {
      const answer = await head(`${plain.url}/api/rooms`);
      assert.equal(answer.headers['x-switchboard-node'], undefined);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    } finally {
      await plain.server.close();
    }
  });
});
