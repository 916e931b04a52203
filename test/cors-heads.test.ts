/**
 * A page on another origin reads every kind of answer: each carries its origin's CORS headers,
 * once each, whatever wrote its head (a poll route's own prebuilt heads, the router, an error, an
 * SSE stream). Polls held at one position share one answer: each still goes out with the headers
 * of the page that asked, never another page's origin, and a request without an Origin gets
 * none. With a list of origins: that origin, with credentials and `Vary: Origin`; with `*` (the
 * default): `*`, never with credentials. A refused origin's answer has none.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { headerTimes, requestHead, startServer } from './helpers.js';

type Head = Awaited<ReturnType<typeof requestHead>>;

const A = 'https://a.example';
const B = 'https://b.example';

describe('CORS headers on every kind of answer', () => {
  let listed: Awaited<ReturnType<typeof startServer>>;
  let open: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    listed = await startServer({ origins: [A, B] });
    // A named node: its x-switchboard-node goes in the same prebuilt heads.
    open = await startServer({ node: 'n-open' });
    for (const s of [listed, open]) assert.equal((await requestHead(`${s.url}/api/rooms/r`, { method: 'PUT' })).status, 201);
  });
  after(async () => {
    await listed.server.close();
    await open.server.close();
  });

  /** Every kind of answer to a page of `origin` (undefined: no Origin header), polls held at one position among them. */
  async function answers(s: typeof listed, origin: string | undefined, text: string): Promise<Record<string, Head>> {
    const from = (init: { method?: string; headers?: Record<string, string>; body?: string } = {}): typeof init => ({ ...init, headers: { ...(origin ? { origin } : {}), ...init.headers } });
    const cursor = ((await (await fetch(`${s.url}/api/rooms/r/poll`)).json()) as { cursor: string }).cursor;
    const heldNative = requestHead(`${s.url}/api/rooms/r/longpoll?after=${cursor}&timeout=5000`, from());
    const heldLecture = requestHead(`${s.url}/longpoll`, from());
    await new Promise((r) => setTimeout(r, 200));
    await requestHead(`${s.url}/api/rooms/r/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    await requestHead(`${s.url}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    return {
      'native long poll, held': await heldNative,
      'native long poll, at once': await requestHead(`${s.url}/api/rooms/r/longpoll?after=${cursor}`, from()),
      'native long poll, timed out': await requestHead(`${s.url}/api/rooms/r/longpoll?timeout=0`, from()),
      'native long poll, HEAD': await requestHead(`${s.url}/api/rooms/r/longpoll`, from({ method: 'HEAD' })),
      'native short poll': await requestHead(`${s.url}/api/rooms/r/poll?after=${cursor}`, from()),
      'lecture long poll, held': await heldLecture,
      'lecture poll, empty (204)': await requestHead(`${s.url}/poll`, from()),
      'lecture poll, a message': await requestHead(`${s.url}/poll`, from({ headers: { cookie: `sb_seed=${encodeURIComponent(`${cursor.split(':')[0]}:0`)}` } })),
      'lecture poll, HEAD': await requestHead(`${s.url}/poll`, from({ method: 'HEAD' })),
      'a poll refused (bad cursor)': await requestHead(`${s.url}/api/rooms/r/poll?after=nope`, from()),
      'a poll of a room that is not there': await requestHead(`${s.url}/api/rooms/nowhere/longpoll?timeout=0`, from()),
      'REST history': await requestHead(`${s.url}/api/rooms/r/messages`, from()),
      'a path that does not decode': await requestHead(`${s.url}/api/rooms/%ZZ`, from()),
      'a 404': await requestHead(`${s.url}/api/nothing-here`, from()),
      'an SSE stream': await requestHead(`${s.url}/api/rooms/r/events`, from()),
      '/healthz': await requestHead(`${s.url}/healthz`, from()),
    };
  }

  /** `answer` carries exactly the CORS headers of `expected` (undefined: none), each once. */
  function assertCors(what: string, answer: Head, expected: { origin: string; credentials: boolean } | undefined): void {
    assert.ok(answer.status > 0, what);
    const once = (name: string): void => assert.equal(headerTimes(answer.raw, name), 1, `${what} (${answer.status}): ${name} once`);
    if (expected === undefined) {
      for (const name of ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers']) assert.equal(answer.headers[name], undefined, `${what} (${answer.status}): no ${name}`);
      return;
    }
    assert.equal(answer.headers['access-control-allow-origin'], expected.origin, `${what} (${answer.status})`);
    once('access-control-allow-origin');
    assert.equal(answer.headers['access-control-expose-headers'], 'retry-after', what);
    once('access-control-expose-headers');
    if (expected.credentials) {
      assert.equal(answer.headers['access-control-allow-credentials'], 'true', what);
      once('access-control-allow-credentials');
      assert.equal(answer.headers.vary, 'Origin', what);
      once('vary');
    } else {
      assert.equal(answer.headers['access-control-allow-credentials'], undefined, `${what}: credentials with *`);
    }
    once('x-content-type-options');
  }

  it('a listed origin gets its own, with credentials; the other listed origin its own; no Origin, none', async () => {
    for (const [origin, i] of [[A, 1], [B, 2], [A, 3]] as const) {
      for (const [what, answer] of Object.entries(await answers(listed, origin, `to ${origin} ${i}`))) assertCors(what, answer, { origin, credentials: true });
    }
    for (const [what, answer] of Object.entries(await answers(listed, undefined, 'to no origin'))) assertCors(what, answer, undefined);
  });

  it('with * any origin gets *, never credentials; the node name goes with it', async () => {
    for (const origin of [A, 'null']) {
      for (const [what, answer] of Object.entries(await answers(open, origin, `to ${origin}`))) {
        assertCors(what, answer, { origin: '*', credentials: false });
        assert.equal(answer.headers['x-switchboard-node'], 'n-open', what);
        assert.equal(headerTimes(answer.raw, 'x-switchboard-node'), 1, `${what}: node once`);
      }
    }
  });

  it('polls held at one position by pages of two origins and of none: one answer, each with its own headers', async () => {
    const cursor = ((await (await fetch(`${listed.url}/api/rooms/r/poll`)).json()) as { cursor: string }).cursor;
    const pages = [A, undefined, B, A, B, undefined];
    const native = pages.map((origin) => requestHead(`${listed.url}/api/rooms/r/longpoll?after=${cursor}&timeout=5000`, { headers: origin ? { origin } : {} }));
    const lecture = pages.map((origin) => requestHead(`${listed.url}/longpoll`, { headers: origin ? { origin } : {} }));
    await new Promise((r) => setTimeout(r, 200));
    await requestHead(`${listed.url}/api/rooms/r/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"shared"}' });
    await requestHead(`${listed.url}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"shared"}' });
    for (const [kind, held] of [['native', native], ['lecture', lecture]] as const) {
      const done = await Promise.all(held);
      done.forEach((answer, i) => {
        assert.equal(answer.status, 200, `${kind} ${i}`);
        assertCors(`${kind} long poll ${i} from ${pages[i] ?? 'no origin'}`, answer, pages[i] === undefined ? undefined : { origin: pages[i]!, credentials: true });
      });
    }
  });

  it('a refused origin: 403 ORIGIN_NOT_ALLOWED on a poll route too, with no CORS headers', async () => {
    for (const path of ['/api/rooms/r/longpoll?timeout=0', '/poll', '/longpoll', '/api/rooms/r/poll']) {
      const answer = await requestHead(`${listed.url}${path}`, { headers: { origin: 'https://c.example' } });
      assert.equal(answer.status, 403, path);
      assertCors(`refused ${path}`, answer, undefined);
    }
  });
});
