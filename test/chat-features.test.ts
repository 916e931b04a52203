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
import type { Entry, HistoryPage, MessageEntry, PollResult, ReadState, SearchResult } from '../src/protocol/types.js';
import { SseProbe, WsProbe, postJson, request, startServer, waitFor, type HttpAnswer } from './helpers.js';

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

for (const store of ['memory', 'sqlite'] as const) {
  describe(`chat features (${store} store)`, () => {
    let s: Started;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sb-chat-'));
      s = await startServer({ store, dataDir: dir });
    });
    after(async () => {
      await s.server.close();
      rmSync(dir, { recursive: true, force: true });
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
  });
}
