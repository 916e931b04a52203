/**
 * Issue 11 on a real server: edits, deletes, reactions, replies, read positions and receipts,
 * unread counts, search, erasure; over WebSocket, SSE, long and short polling, REST; on the
 * memory and SQLite stores (Redis: see the store contract and the Redis part below).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Entry, HistoryPage, MessageEntry, PollResult, ReadState, SearchResult, UnreadCount } from '../src/protocol/types.js';
import { SseProbe, WsProbe, postJson, request, startServer, waitFor, type HttpAnswer } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

type Started = Awaited<ReturnType<typeof startServer>>;

const SECRET = 'chat-features-secret-0123456789abcdef';

function jwt(payload: Record<string, unknown>): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...payload })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

function send(url: string, method: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const framing: Record<string, string> = text === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
  return request(url, { method, ...(text === undefined ? {} : { body: text }), headers: { ...framing, ...headers } });
}

function code(a: HttpAnswer): string {
  return (a.json() as { code: string }).code;
}

async function history(base: string, room: string, q = ''): Promise<Entry[]> {
  return ((await request(`${base}/api/rooms/${room}/messages?limit=100${q}`)).json() as HistoryPage).entries;
}

async function message(base: string, room: string, seq: number): Promise<MessageEntry> {
  const found = (await history(base, room)).find((e) => e.seq === seq);
  assert.ok(found && found.type === 'message', `message ${seq} in history`);
  return found;
}

/** Publishes as `member` on an open server. */
async function publish(base: string, room: string, member: string, body: Record<string, unknown>): Promise<number> {
  const a = await postJson(`${base}/api/rooms/${room}/messages`, { name: member, member, ...body });
  assert.equal(a.status, 201, a.body);
  return (a.json() as { seq: number }).seq;
}

const as = (member: string): string => `?member=${member}&name=${member}`;

const redisSkip = await redisSkipReason('chat features on Redis');

for (const store of ['memory', 'sqlite', 'redis'] as const) {
  describe(`chat features (${store} store)`, { skip: store === 'redis' ? redisSkip : undefined }, () => {
    let s: Started;
    let dir: string;
    const prefix = uniquePrefix();
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sb-chat-'));
      // The suite's publishes, edits and reactions all come from one address (a guest's budget is
      // its address's): a burst that holds them all, so that no test depends on how long the ones
      // before it took (budgets are tested elsewhere: abuse.test.ts).
      s = await startServer({ store, dataDir: dir, rateLimitBurst: 1000, ...(store === 'redis' ? { redisUrl, redisPrefix: prefix } : {}) });
    });
    after(async () => {
      await s.server.close();
      rmSync(dir, { recursive: true, force: true });
      if (store === 'redis') await deleteKeys(prefix);
    });

    it('edits, reactions, replies and deletes: acks, folded history, erased previews, rights of the author (open server: the claimed member)', async () => {
      const room = 'fold';
      await send(`${s.url}/api/rooms/${room}`, 'PUT', undefined);
      const m1 = await publish(s.url, room, 'ann', { text: 'hello wörld, first' });
      const edit = await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('ann')}`, 'PATCH', { text: 'hello world, edited', clientId: 'e1' });
      assert.equal(edit.status, 201, edit.body);
      const editSeq = (edit.json() as { seq: number }).seq;
      const again = await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('ann')}`, 'PATCH', { text: 'hello world, edited', clientId: 'e1' });
      assert.equal(again.status, 200, 'a retried edit is a duplicate');
      assert.equal((again.json() as { seq: number }).seq, editSeq);
      const conflict = await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('ann')}`, 'PATCH', { text: 'other', clientId: 'e1' });
      assert.equal(conflict.status, 409);
      assert.equal(code(conflict), 'CLIENT_ID_CONFLICT');
      const bob = await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('bob')}`, 'PATCH', { text: 'bob was here' });
      assert.equal(bob.status, 403);
      assert.equal(code(bob), 'FORBIDDEN');
      // Reactions: toggles, explicit on, the same member once.
      for (const who of ['bob', 'cy', 'bob']) assert.equal((await send(`${s.url}/api/rooms/${room}/messages/${m1}/reactions${as(who)}`, 'POST', { emoji: '👍' })).status, 201);
      assert.equal((await send(`${s.url}/api/rooms/${room}/messages/${m1}/reactions${as('dee')}`, 'POST', { emoji: '🎉', on: true })).status, 201);
      const reply = await publish(s.url, room, 'bob', { text: 'a reply', replyTo: m1 });
      let folded = await message(s.url, room, m1);
      assert.equal(folded.text, 'hello world, edited');
      assert.equal(folded.edited?.seq, editSeq);
      assert.deepEqual(folded.reactions, [
        { emoji: '👍', count: 1, by: [{ member: 'cy', name: 'cy' }] },
        { emoji: '🎉', count: 1, by: [{ member: 'dee', name: 'dee' }] },
      ]);
      const replied = await message(s.url, room, reply);
      assert.deepEqual(replied.reply, { seq: m1, from: { name: 'ann', member: 'ann' }, text: 'hello world, edited' });
      assert.equal(replied.replyTo, m1);
      const all = await history(s.url, room);
      assert.ok(all.every((e) => e.type === 'message' || e.type === 'join' || e.type === 'leave'), 'history leaves amendments out');
      // Search finds the current text, prefix and diacritic-insensitive.
      const found = (await request(`${s.url}/api/rooms/${room}/search?q=${encodeURIComponent('HELL édit')}`)).json() as SearchResult;
      assert.deepEqual(found.results.map((r) => r.seq), [m1]);
      assert.equal(found.complete, true);
      assert.equal(((await request(`${s.url}/api/rooms/${room}/search?q=first`)).json() as SearchResult).results.length, 0, 'the old text is not found');
      // Delete: by another guest refused, by the author done; erases the previews quoting it.
      assert.equal(code(await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('bob')}`, 'DELETE', undefined)), 'FORBIDDEN');
      const del = await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('ann')}`, 'DELETE', { clientId: 'd1' });
      assert.equal(del.status, 201, del.body);
      assert.equal((await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('ann')}`, 'DELETE', { clientId: 'd1' })).status, 200);
      folded = await message(s.url, room, m1);
      assert.equal(folded.deleted, true);
      assert.equal(folded.text, '');
      assert.equal(folded.reactions, undefined);
      assert.deepEqual((await message(s.url, room, reply)).reply, { seq: m1, from: { name: 'ann', member: 'ann' }, text: '', deleted: true });
      const poll = (await request(`${s.url}/api/rooms/${room}/poll?after=0&limit=100`)).json() as PollResult;
      const editEntry = poll.entries.find((e) => e.seq === editSeq);
      assert.ok(editEntry?.type === 'edit' && editEntry.text === '', 'the edit entry text is erased');
      assert.equal(((await request(`${s.url}/api/rooms/${room}/search?q=hello`)).json() as SearchResult).results.length, 0, 'a deleted message never matches');
      // After delete: edits, reactions and replies refused.
      assert.equal(code(await send(`${s.url}/api/rooms/${room}/messages/${m1}${as('ann')}`, 'PATCH', { text: 'x' })), 'MESSAGE_DELETED');
      assert.equal(code(await send(`${s.url}/api/rooms/${room}/messages/${m1}/reactions${as('bob')}`, 'POST', { emoji: '👍' })), 'MESSAGE_DELETED');
      assert.equal(code(await postJson(`${s.url}/api/rooms/${room}/messages`, { text: 'r', replyTo: m1 })), 'MESSAGE_DELETED');
    });

    it('every amendment reaches WebSocket, SSE, long and short polling once, in order, and again on a resume; the lecture routes never see one', { timeout: 30_000 }, async () => {
      const room = 'lobby'; // the lecture's routes serve this one
      await send(`${s.url}/api/rooms/${room}`, 'PUT', undefined);
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ann&member=ann`);
      await ws.opened;
      ws.send({ type: 'subscribe', id: 's', room });
      await ws.next('subscribed', (f) => f.id === 's');
      const sse = new SseProbe(`${s.url}/api/rooms/${room}/events?name=sse&member=sse`);
      await sse.ready;
      await waitFor(() => sse.events.some((e) => e.event === 'ready'), 5000, 'sse ready');
      const seedSse = new SseProbe(`${s.url}/subscribe`);
      await seedSse.ready;
      const start = ((await request(`${s.url}/api/rooms/${room}/poll`)).json() as PollResult).cursor;
      // The long poll is held from before the first entry.
      const held = request(`${s.url}/api/rooms/${room}/longpoll?after=${encodeURIComponent(start)}&timeout=5000`);
      ws.send({ type: 'publish', id: 'p1', room, text: 'original words', clientId: 'c1' });
      const m = Number((await ws.next('ack', (f) => f.id === 'p1')).seq);
      ws.send({ type: 'edit', id: 'e1', room, seq: m, text: 'edited words' });
      ws.send({ type: 'react', id: 'r1', room, seq: m, emoji: '👍' });
      ws.send({ type: 'publish', id: 'p2', room, text: 'the answer', replyTo: m });
      ws.send({ type: 'delete', id: 'd1', room, seq: m });
      for (const id of ['e1', 'r1', 'p2', 'd1']) await ws.next('ack', (f) => f.id === id);
      const types = ['message', 'edit', 'reaction', 'message', 'delete'];
      await waitFor(() => ws.frames.filter((f) => types.includes(String(f.type)) && Number(f.seq) >= m).length >= 5, 5000, 'ws entries');
      const wsEntries = ws.frames.filter((f) => types.includes(String(f.type)) && Number(f.seq) >= m);
      assert.deepEqual(wsEntries.map((f) => f.type), types, 'WebSocket: each once, in order');
      assert.deepEqual(wsEntries.map((f) => f.seq), [m, m + 1, m + 2, m + 3, m + 4]);
      assert.equal(wsEntries[2]!.on, true, 'the toggle resolved to on');
      assert.deepEqual(wsEntries[3]!.reply, { seq: m, from: { name: 'ann', member: 'ann' }, text: 'edited words' }, 'a reply quotes the message as it is when made');
      await waitFor(() => sse.events.filter((e) => types.includes(e.event)).length >= 5, 5000, 'sse entries');
      assert.deepEqual(sse.events.filter((e) => types.includes(e.event)).map((e) => e.event), types, 'SSE: each as its own event type');
      // ann's arrival is announced before her first message (Hub.announceSender), and a presence
      // notice answers held polls (with `presenceAt`, no entries): poll on from its cursor then.
      let first = (await held).json() as PollResult;
      while (first.entries.length === 0) first = (await request(`${s.url}/api/rooms/${room}/longpoll?after=${encodeURIComponent(first.cursor)}&timeout=5000`)).json() as PollResult;
      assert.equal(first.entries[0]!.seq, m);
      const polled = ((await request(`${s.url}/api/rooms/${room}/poll?after=${encodeURIComponent(start)}&limit=100`)).json() as PollResult).entries;
      assert.deepEqual(polled.map((e) => e.type), types, 'short polling: amendments as entries');
      assert.equal((polled[0] as MessageEntry).deleted, true, 'a read of the log returns the message folded');
      assert.equal((polled[0] as MessageEntry).folded, m + 4);
      // Resume from the cursor before: WebSocket and SSE replay the same entries.
      const ws2 = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ann&member=ann`);
      await ws2.opened;
      ws2.send({ type: 'subscribe', id: 's', room, after: start });
      await waitFor(() => ws2.frames.filter((f) => types.includes(String(f.type))).length >= 5, 5000, 'ws resume');
      assert.deepEqual(ws2.frames.filter((f) => types.includes(String(f.type))).map((f) => f.type), types);
      const sse2 = new SseProbe(`${s.url}/api/rooms/${room}/events?name=sse&member=sse`, { 'last-event-id': start });
      await sse2.ready;
      await waitFor(() => sse2.events.filter((e) => types.includes(e.event)).length >= 5, 5000, 'sse resume');
      assert.deepEqual(sse2.events.filter((e) => types.includes(e.event)).map((e) => e.event), types);
      // The lecture's SSE saw the two messages (as sent), never an amendment; its poll skips the deleted one.
      await waitFor(() => seedSse.events.length >= 2, 5000, 'seed sse');
      assert.deepEqual(seedSse.events.map((e) => (JSON.parse(e.data) as { text: string }).text), ['original words', 'the answer']);
      for (const probe of [ws, ws2]) probe.close();
      for (const probe of [sse, sse2, seedSse]) probe.close();
    });

    it('read positions: shared by two connections of a member, forward only, receipts on WebSocket and SSE, unread and mention counts, /api/read', { timeout: 30_000 }, async () => {
      const room = 'reads';
      await send(`${s.url}/api/rooms/${room}`, 'PUT', undefined);
      const tab1 = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=Zoe&member=zoe`);
      const tab2 = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=Zoe&member=zoe`);
      const watcher = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=Yan&member=yan`);
      for (const p of [tab1, tab2, watcher]) {
        await p.opened;
        p.send({ type: 'subscribe', id: 's', room });
        await p.next('subscribed');
      }
      const sse = new SseProbe(`${s.url}/api/rooms/${room}/events?name=sse&member=sse2`);
      await sse.ready;
      await waitFor(() => sse.events.some((e) => e.event === 'ready'), 5000, 'sse ready');
      const seqs: number[] = [];
      for (const [who, text] of [['yan', 'hi @zoe'], ['yan', 'email@zoe.example'], ['yan', 'Hey @ZOE!'], ['zoe', 'mine'], ['yan', 'plain'], ['yan', 'deleted @zoe'], ['yan', 'in code `@zoe`, and\n```\n@zoe\n```'], ['yan', '`code`, then @zoe']]) seqs.push(await publish(s.url, room, who!, { text }));
      await send(`${s.url}/api/rooms/${room}/messages/${seqs[5]}${as('yan')}`, 'DELETE', undefined);
      let state = (await request(`${s.url}/api/rooms/${room}/read${as('zoe')}`)).json() as ReadState;
      assert.deepEqual([state.seq, state.unread, state.mentions, state.capped], [0, 6, 3, false], 'own and deleted messages do not count; @zoe inside a word, or in code, is no mention');
      tab1.send({ type: 'mark-read', id: 'm1', room, seq: seqs[2] });
      assert.equal((await tab1.next('marked', (f) => f.id === 'm1')).seq, seqs[2]);
      tab2.send({ type: 'mark-read', id: 'm2', room, seq: seqs[0] });
      assert.equal((await tab2.next('marked', (f) => f.id === 'm2')).seq, seqs[2], 'the other tab moved it further: it never goes back');
      const receipt = await watcher.next('receipt', (f) => f.member === 'zoe');
      assert.deepEqual(receipt, { type: 'receipt', room, member: 'zoe', name: 'Zoe', seq: seqs[2] });
      await waitFor(() => sse.events.some((e) => e.event === 'receipt'), 5000, 'sse receipt');
      const put = await send(`${s.url}/api/rooms/${room}/read${as('zoe')}`, 'PUT', { seq: 999_999 });
      assert.equal(put.status, 200);
      const last = (await request(`${s.url}/api/rooms/${room}`)).json() as { lastSeq: number };
      assert.deepEqual(put.json(), { room, member: 'zoe', seq: last.lastSeq }, 'clamped to lastSeq');
      state = (await request(`${s.url}/api/rooms/${room}/read${as('zoe')}`)).json() as ReadState;
      assert.deepEqual([state.unread, state.mentions], [0, 0]);
      assert.deepEqual(state.members.map((m) => m.member), ['zoe']);
      // Receipts: at most one per member per second, the latest wins.
      await waitFor(() => watcher.of('receipt').some((f) => f.seq === last.lastSeq), 3000, 'the latest receipt');
      assert.ok(watcher.of('receipt').length <= 2, 'coalesced');
      const many = (await request(`${s.url}/api/read?rooms=${room},nope,fold&member=yan&name=yan`)).json() as { rooms: { room: string; unread: number; seq: number }[] };
      assert.deepEqual(many.rooms.map((r) => r.room), [room, 'fold'], 'a room that does not exist is left out');
      assert.equal(many.rooms[0]!.unread, 1, "yan's unread: zoe's message");
      assert.equal(code(await request(`${s.url}/api/read?rooms=`)), 'BAD_REQUEST');
      for (const p of [tab1, tab2, watcher]) p.close();
      sse.close();
    });

    it('bad inputs answered with catalog codes on REST and WebSocket', async () => {
      const room = 'bad';
      await send(`${s.url}/api/rooms/${room}`, 'PUT', undefined);
      const join = await send(`${s.url}/api/rooms/${room}/presence?name=j&member=j`, 'POST', undefined);
      assert.equal(join.status, 201);
      const m = await publish(s.url, room, 'ann', { text: 'target' });
      const del = await publish(s.url, room, 'ann', { text: 'gone' });
      await send(`${s.url}/api/rooms/${room}/messages/${del}${as('ann')}`, 'DELETE', undefined);
      const url = (seq: number | string, tail = ''): string => `${s.url}/api/rooms/${room}/messages/${seq}${tail}${as('ann')}`;
      assert.equal(code(await send(url(m, '/reactions'), 'POST', { emoji: 'a b' })), 'BAD_REQUEST', 'emoji with a space');
      assert.equal(code(await send(url(999), 'PATCH', { text: 'x' })), 'MESSAGE_NOT_FOUND', 'missing target');
      assert.equal(code(await send(url(del), 'PATCH', { text: 'x' })), 'MESSAGE_DELETED', 'deleted target');
      assert.equal(code(await send(url(m), 'PATCH', { text: '' })), 'TEXT_REQUIRED');
      assert.equal(code(await send(url(m), 'PATCH', { text: 'x'.repeat(70_000) })), 'MESSAGE_TOO_LARGE');
      assert.equal(code(await send(url('abc'), 'PATCH', { text: 'x' })), 'BAD_REQUEST');
      for (let i = 0; i < 20; i++) assert.equal((await send(url(m, '/reactions'), 'POST', { emoji: `e${i}` })).status, 201);
      const limit = await send(url(m, '/reactions'), 'POST', { emoji: 'e20' });
      assert.equal(limit.status, 409);
      assert.equal(code(limit), 'REACTION_LIMIT');
      assert.equal((await send(url(m, '/reactions'), 'POST', { emoji: 'e3', on: true })).status, 201, 'an emoji already there may still be given');
      assert.equal(code(await postJson(`${s.url}/api/rooms/${room}/messages`, { text: 'r', replyTo: 999 })), 'MESSAGE_NOT_FOUND');
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ann&member=ann`);
      await ws.opened;
      ws.send({ type: 'react', id: 'a', room, seq: m, emoji: 'a b' });
      ws.send({ type: 'edit', id: 'b', room, seq: 999, text: 'x' });
      ws.send({ type: 'delete', id: 'c', room, seq: del });
      ws.send({ type: 'edit', id: 'd', room, seq: m, text: '' });
      ws.send({ type: 'react', id: 'e', room, seq: m, emoji: 'e21' });
      ws.send({ type: 'mark-read', id: 'f', room, seq: -1 });
      const errors = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ws.next('error', (f) => f.id === id)));
      assert.deepEqual(errors.map((e) => e.code), ['BAD_REQUEST', 'MESSAGE_NOT_FOUND', 'MESSAGE_DELETED', 'TEXT_REQUIRED', 'REACTION_LIMIT', 'BAD_REQUEST']);
      // A join entry is no message: find its seq in the log.
      const log = ((await request(`${s.url}/api/rooms/${room}/poll?after=0&limit=100`)).json() as PollResult).entries;
      const joinEntry = log.find((e) => e.type === 'join');
      if (joinEntry) assert.equal(code(await send(`${s.url}/api/rooms/${room}/messages/${joinEntry.seq}/reactions${as('ann')}`, 'POST', { emoji: 'x' })), 'MESSAGE_NOT_FOUND');
      ws.close();
    });
  });
}

describe('erasure in the store itself', () => {
  it('SQLite: a deleted text is in no file of the data directory (database, WAL, FTS index), and the ack came after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-erase-'));
    const s = await startServer({ store: 'sqlite', dataDir: dir });
    try {
      await send(`${s.url}/api/rooms/e`, 'PUT', undefined);
      const secret = 'zyxwvquux' + Date.now().toString(36);
      const m = await publish(s.url, 'e', 'ann', { text: `the ${secret} plan`, data: { also: secret } });
      await send(`${s.url}/api/rooms/e/messages/${m}${as('ann')}`, 'PATCH', { text: `the ${secret}edited plan` });
      await publish(s.url, 'e', 'bob', { text: 'quoting it', replyTo: m });
      const bytes = (): Buffer => Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
      assert.ok(bytes().includes(secret), 'the text is on disk before the delete (the test can fail)');
      const del = await send(`${s.url}/api/rooms/e/messages/${m}${as('ann')}`, 'DELETE', undefined);
      assert.equal(del.status, 201);
      // Read at once after the ack: the erasure was durable before it.
      assert.ok(!bytes().includes(secret), 'no trace of the text in the data directory');
    } finally {
      await s.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Redis: a deleted text is in no key of the room (log, overrides, folds, previews)', { skip: redisSkip }, async () => {
    const prefix = uniquePrefix();
    const s = await startServer({ store: 'redis', redisUrl, redisPrefix: prefix });
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl);
    try {
      await send(`${s.url}/api/rooms/e`, 'PUT', undefined);
      const secret = 'zyxwvquux' + Date.now().toString(36);
      const m = await publish(s.url, 'e', 'ann', { text: `the ${secret} plan` });
      await send(`${s.url}/api/rooms/e/messages/${m}${as('ann')}`, 'PATCH', { text: `the ${secret}edited plan` });
      await publish(s.url, 'e', 'bob', { text: 'quoting it', replyTo: m });
      const dump = async (): Promise<string> => {
        let out = '';
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*{e}*`, 'COUNT', 100);
          cursor = next;
          for (const key of keys) {
            const type = await redis.type(key);
            if (type === 'string') out += await redis.get(key);
            else if (type === 'hash') out += JSON.stringify(await redis.hgetall(key));
            else if (type === 'zset') out += JSON.stringify(await redis.zrange(key, 0, -1));
            else if (type === 'stream') out += JSON.stringify(await redis.xrange(key, '-', '+'));
            else out += `<${type}>`;
          }
        } while (cursor !== '0');
        return out;
      };
      assert.ok((await dump()).includes(secret), 'the text is in Redis before the delete (the test can fail)');
      assert.equal((await send(`${s.url}/api/rooms/e/messages/${m}${as('ann')}`, 'DELETE', undefined)).status, 201);
      const after = await dump();
      assert.ok(!after.includes(secret), 'no trace of the text in any key of the room');
      assert.ok(after.includes('quoting it'), 'the dump did read the room');
    } finally {
      redis.disconnect();
      await s.server.close();
      await deleteKeys(prefix);
    }
  });
});

describe('rights with tokens', () => {
  it('edit and delete: the author, or a room admin; another member is FORBIDDEN; react needs read only', async () => {
    const s = await startServer({ jwtSecret: SECRET, guests: 'read', guestRooms: ['t'] });
    try {
      const token = (sub: string, rights: string[]): Record<string, string> => ({ authorization: `Bearer ${jwt({ sub, name: sub, rooms: { t: rights } })}` });
      const ann = token('ann', ['read', 'write', 'create']);
      await send(`${s.url}/api/rooms/t`, 'PUT', undefined, ann);
      const a = await send(`${s.url}/api/rooms/t/messages`, 'POST', { text: 'by ann' }, ann);
      const m = (a.json() as { seq: number }).seq;
      const bob = token('bob', ['read', 'write']);
      assert.equal(code(await send(`${s.url}/api/rooms/t/messages/${m}`, 'PATCH', { text: 'bob' }, bob)), 'FORBIDDEN');
      assert.equal(code(await send(`${s.url}/api/rooms/t/messages/${m}`, 'DELETE', undefined, bob)), 'FORBIDDEN');
      assert.equal((await send(`${s.url}/api/rooms/t/messages/${m}/reactions`, 'POST', { emoji: '👍' }, token('reader', ['read']))).status, 201);
      assert.equal((await send(`${s.url}/api/rooms/t/messages/${m}`, 'PATCH', { text: 'by ann, edited' }, ann)).status, 201);
      assert.equal((await send(`${s.url}/api/rooms/t/messages/${m}`, 'DELETE', undefined, token('mod', ['read', 'write', 'admin']))).status, 201, 'an admin may delete');
      assert.equal(code(await send(`${s.url}/api/rooms/t/messages/${m}/reactions`, 'POST', { emoji: '👍' }, token('reader', ['read']))), 'MESSAGE_DELETED', 'not on a deleted message');
      assert.equal(code(await send(`${s.url}/api/rooms/t/messages/${m}/reactions`, 'POST', { emoji: '👍' })), 'UNAUTHORIZED', 'a guest, named per request, has no lasting identity to react with');
    } finally {
      await s.server.close();
    }
  });
});

describe('what queries may cost', () => {
  it('unread counts read a bounded amount of text: a room of 40 messages of 64 KiB is counted up to 2 MiB of text, then capped', async () => {
    const s = await startServer({ maxMessageBytes: 65536 });
    try {
      await request(`${s.url}/api/rooms/big`, { method: 'PUT' });
      await request(`${s.url}/api/rooms/small`, { method: 'PUT' });
      const big = 'x'.repeat(65536);
      for (let i = 0; i < 40; i++) await s.server.hub.publish({ type: 'message', room: 'big', from: { id: 'w', name: 'w', member: 'writer' }, text: big });
      for (let i = 0; i < 3; i++) await s.server.hub.publish({ type: 'message', room: 'small', from: { id: 'w', name: 'w', member: 'writer' }, text: `hi @reader ${i}` });
      const r = await request(`${s.url}/api/read?rooms=big,small&member=reader&name=reader`);
      assert.equal(r.status, 200);
      const [bigCount, smallCount] = (r.json() as { rooms: UnreadCount[] }).rooms;
      assert.equal(bigCount!.capped, true);
      assert.equal(bigCount!.unread, 32, '2 MiB of text: 32 messages of 64 KiB');
      assert.deepEqual([smallCount!.unread, smallCount!.mentions, smallCount!.capped], [3, 3, false]);
    } finally {
      await s.server.close();
    }
  });

  it('search, read state and unread counts spend one budget (--query-rate, burst 5×): past it 429 RATE_LIMITED with Retry-After', async () => {
    const s = await startServer({ queryRatePerSecond: 1 });
    try {
      await request(`${s.url}/api/rooms/q`, { method: 'PUT' });
      const who = 'member=mq&name=mq';
      const routes = [`/api/rooms/q/search?q=hello&${who}`, `/api/rooms/q/read?${who}`, `/api/read?rooms=q&${who}`];
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await request(`${s.url}${routes[i % 3]}`)).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200], 'the burst: five queries');
      for (const route of routes) {
        const refused = await request(`${s.url}${route}`);
        assert.equal(refused.status, 429, route);
        assert.equal(code(refused), 'RATE_LIMITED');
        assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After');
      }
      // A guest's budget is its address's: claiming another member does not escape it.
      assert.equal((await request(`${s.url}/api/rooms/q/search?q=hello&member=other&name=other`)).status, 429);
    } finally {
      await s.server.close();
    }
  });
});
