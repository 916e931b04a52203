import { mintToken } from '../src/server/auth/mint-token.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './helpers/ports.js';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Entry, HistoryPage } from '../src/protocol/types.js';
import { TRANSPORTS } from '../src/protocol/types.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';
import { connect } from '../src/client/index.js';
import { CLI, ROOT, runCli, type CliResult } from './fixtures/cli-run.js';


type Result = CliResult;

/** Runs the CLI to its end (killed after `timeoutMs`), colours off, stdin from `input` (or closed). */
function run(args: string[], input?: string, timeoutMs = 25_000): Promise<Result> {
  return runCli(args, { input: input ?? '', timeoutMs });
}

/** A long-running CLI process whose stdout lines are collected as they come. */
function start(args: string[]): { child: ChildProcess; lines: string[]; stderr: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, lines, stderr: () => stderr, done };
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One line on stderr, no stack trace. */
function assertOneLineError(r: Result, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^switchboard: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const TEST_SECRET = 'cli-test-secret-0123456789abcdef';

describe('switchboard CLI', () => {
  let server: Switchboard;
  let url: string;
  let locked: Switchboard;
  let lockedUrl: string;
  let lockedToken: string;
  const children: ChildProcess[] = [];

  const history = async (room: string): Promise<Entry[]> => ((await (await fetch(`${url}/api/rooms/${room}/messages?limit=500`)).json()) as HistoryPage).entries;
  const post = (room: string, text: string): Promise<Response> =>
    fetch(`${url}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, name: 'poster' }) });

  before(async () => {
    server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', rateLimitPerSecond: 10_000, rateLimitBurst: 10_000 });
    url = `http://127.0.0.1:${await server.listen()}`;
    locked = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', jwtSecret: TEST_SECRET });
    lockedToken = await mintToken(TEST_SECRET, { sub: 'cli-user', rooms: { lobby: ['read', 'write'] }, ttlSec: 600 });
    lockedUrl = `http://127.0.0.1:${await locked.listen()}`;
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await server.close();
    await locked.close();
  });

  it('--help lists serve, chat, send and tail', { timeout: 30_000 }, async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const command of ['serve', 'chat', 'send', 'tail']) assert.match(r.stdout, new RegExp(`\\b${command}\\b`));
  });

  it('serve with a --data-dir that cannot be made (under /proc) exits 1 with one line, at once', { timeout: 30_000, skip: !existsSync('/proc/self') }, async () => {
    const r = await run(['serve', '--port', '0', '--data-dir', '/proc/nope'], undefined, 20_000);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'switchboard: cannot start: cannot create the data folder /proc/nope: ENOENT at /proc/nope\n');
  });

  it('serve whose store cannot be opened exits 1 with one line saying what could not be opened and why, not a publish\'s "nothing was stored"', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-cli-'));
    try {
      // The database file's place is taken by a folder.
      mkdirSync(path.join(dir, 'switchboard.db'));
      const r = await run(['serve', '--port', '0', '--data-dir', dir], undefined, 20_000);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `switchboard: cannot start: cannot open the SQLite store ${path.join(dir, 'switchboard.db')}: unable to open database file\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Redis that does not answer: named by its URL, its credentials masked.
    const unreachable = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'redis', redisUrl: 'redis://user:hunter2@127.0.0.1:1', logLevel: 'silent' });
    try {
      await assert.rejects(unreachable.listen(), (err: Error) => {
        assert.equal(err.message, 'cannot open the Redis store at redis://***@127.0.0.1:1: Redis did not answer within 5000 ms');
        return true;
      });
    } finally {
      await unreachable.close().catch(() => {});
    }
  });

  it('send: publishes on every transport, prints the seq, exits 0', { timeout: 30_000 }, async () => {
    const results = await Promise.all(TRANSPORTS.map((t) => run(['send', '--url', url, '--room', 'lobby', '--name', `sender-${t}`, '--transport', t, 'hello', 'over', t])));
    const entries = await history('lobby');
    for (const [i, t] of TRANSPORTS.entries()) {
      const r = results[i]!;
      assert.equal(r.code, 0, `send over ${t}: ${r.stderr}`);
      assert.match(r.stdout, /^\d+\n$/);
      const stored = entries.find((e) => e.seq === Number(r.stdout));
      assert.equal(stored?.type === 'message' ? stored.text : undefined, `hello over ${t}`);
      assert.equal(stored?.from.name, `sender-${t}`);
    }
  });

  it('send --create makes the room; a retried --client-id is stored once', { timeout: 30_000 }, async () => {
    const first = await run(['send', '--url', url, '--room', 'made-by-cli', '--create', '--client-id', 'cli-once', 'only once']);
    assert.equal(first.code, 0, first.stderr);
    const again = await run(['send', '--url', url, '--room', 'made-by-cli', '--transport', 'sse', '--client-id', 'cli-once', 'only once']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, first.stdout);
    assert.equal((await history('made-by-cli')).filter((e) => e.type === 'message').length, 1);
  });

  it('tail --json: one JSON entry per line on every transport, history first', { timeout: 40_000 }, async () => {
    await Promise.all(
      TRANSPORTS.map(async (t) => {
        await fetch(`${url}/api/rooms/tail-${t}`, { method: 'PUT' });
        for (const text of ['old 1', 'old 2', 'old 3']) assert.ok((await post(`tail-${t}`, text)).ok);
      }),
    );
    const tails = TRANSPORTS.map((t) => start(['tail', '--url', url, '--room', `tail-${t}`, '--transport', t, '--json', '--history', '2']));
    children.push(...tails.map((x) => x.child));
    try {
      await Promise.all(tails.map((x, i) => waitFor(() => x.lines.length >= 2, `history from tail over ${TRANSPORTS[i]} (stderr: ${x.stderr()})`)));
      for (const t of TRANSPORTS) for (const text of ['live 1', 'live 2']) assert.ok((await post(`tail-${t}`, `${text} ${t}`)).ok);
      await Promise.all(tails.map((x, i) => waitFor(() => x.lines.length >= 4, `live lines from tail over ${TRANSPORTS[i]}`)));
      for (const [i, t] of TRANSPORTS.entries()) {
        const entries = tails[i]!.lines.map((l) => JSON.parse(l) as Entry);
        assert.deepEqual(
          entries.map((e) => (e.type === 'message' ? e.text : undefined)),
          ['old 2', 'old 3', `live 1 ${t}`, `live 2 ${t}`],
        );
        assert.ok(entries.every((e) => e.type === 'message' && e.room === `tail-${t}` && typeof e.seq === 'number'));
      }
    } finally {
      for (const x of tails) x.child.kill('SIGINT');
    }
    const codes = await Promise.all(tails.map((x) => x.done));
    assert.deepEqual(codes, [0, 0, 0, 0], 'Ctrl-C ends tail cleanly');
  });

  it('tail (plain): one readable line per message', { timeout: 30_000 }, async () => {
    const tail = start(['tail', '--url', url, '--room', 'lobby', '--history', '1']);
    children.push(tail.child);
    await waitFor(() => tail.lines.length >= 1, `history line (stderr: ${tail.stderr()})`);
    assert.ok((await post('lobby', 'plain and simple')).ok);
    await waitFor(() => tail.lines.length >= 2, 'live line');
    assert.match(tail.lines[1]!, /^\d\d:\d\d:\d\d #\d+ poster: plain and simple$/);
    tail.child.kill('SIGINT');
    assert.equal(await tail.done, 0);
  });

  it('tail and chat take the room as an argument too; two different rooms are a usage error', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/by-argument`, { method: 'PUT' });
    const tail = start(['tail', 'by-argument', '--url', url]);
    children.push(tail.child);
    // In the room once it is in the room's member list (a tail of lobby would not be).
    for (let i = 0; ; i++) {
      const members = ((await (await fetch(`${url}/api/rooms/by-argument/presence`)).json()) as { members: { name: string }[] }).members;
      if (members.some((m) => m.name === 'tail')) break;
      if (i > 500) assert.fail(`tail did not join by-argument (stderr: ${tail.stderr()})`);
      await sleep(20);
    }
    assert.ok((await post('by-argument', 'named as an argument')).ok);
    await waitFor(() => tail.lines.length >= 1, 'the live line');
    assert.match(tail.lines[0]!, /#\d+ poster: named as an argument$/);
    tail.child.kill('SIGINT');
    assert.equal(await tail.done, 0);
    for (const command of ['tail', 'chat']) {
      const both = await run([command, 'by-argument', '--room', 'lobby', '--url', url]);
      assertOneLineError(both, /two rooms named: "by-argument" and --room "lobby"/);
      assert.equal(both.code, 2);
    }
    // The same room both ways is no mistake: its history comes.
    const same = start(['tail', 'by-argument', '--room', 'by-argument', '--history', '1', '--url', url]);
    children.push(same.child);
    await waitFor(() => same.lines.length >= 1, `history of by-argument (stderr: ${same.stderr()})`);
    assert.match(same.lines[0]!, /#\d+ poster: named as an argument$/);
    same.child.kill('SIGINT');
    assert.equal(await same.done, 0);
  });

  it('tail --presence prints who joins and leaves on a server that writes no join or leave entries (the default)', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/who`, { method: 'PUT' });
    const tail = start(['tail', '--url', url, '--room', 'who', '--presence']);
    children.push(tail.child);
    // Tail is in the room once it is in the member list.
    for (let i = 0; ; i++) {
      const members = ((await (await fetch(`${url}/api/rooms/who/presence`)).json()) as { members: { name: string }[] }).members;
      if (members.some((m) => m.name === 'tail')) break;
      if (i > 500) assert.fail(`tail did not join (stderr: ${tail.stderr()})`);
      await new Promise((r) => setTimeout(r, 30));
    }
    const carol = await connect({ url, room: 'who', name: 'carol', transport: 'sse' });
    await waitFor(() => tail.lines.some((l) => /^\d\d:\d\d:\d\d \* carol joined$/.test(l)), `carol's arrival (lines: ${JSON.stringify(tail.lines)})`);
    await carol.close();
    await waitFor(() => tail.lines.some((l) => /^\d\d:\d\d:\d\d \* carol left$/.test(l)), `carol's departure (lines: ${JSON.stringify(tail.lines)})`);
    assert.equal(tail.lines.length, 2, `one line each: ${JSON.stringify(tail.lines)}`);
    tail.child.kill('SIGINT');
    assert.equal(await tail.done, 0);
  });

  it('send --data/--event; tail --json prints data, plain tail shows [event] {json} for a data-only message', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/payloads`, { method: 'PUT' });
    const json = start(['tail', '--url', url, '--room', 'payloads', '--json']);
    const plain = start(['tail', '--url', url, '--room', 'payloads', '--transport', 'sse']);
    children.push(json.child, plain.child);
    try {
      // Both tails are subscribed once a warm-up message reaches them (warm-ups are left out below).
      for (let i = 0; json.lines.length === 0 || plain.lines.length === 0; i++) {
        if (i % 10 === 0) assert.ok((await post('payloads', 'warm-up')).ok);
        if (i > 500) assert.fail(`tails did not start (stderr: ${json.stderr()} ${plain.stderr()})`);
        await new Promise((r) => setTimeout(r, 30));
      }
      const warm = (l: string): boolean => l.includes('warm-up');
      const dataOnly = await run(['send', '--url', url, '--room', 'payloads', '--data', '{"x":1,"list":[true,null]}', '--event', 'custom']);
      assert.equal(dataOnly.code, 0, dataOnly.stderr);
      const both = await run(['send', '--url', url, '--room', 'payloads', '--transport', 'polling', '--data', '[1,2]', 'with', 'text']);
      assert.equal(both.code, 0, both.stderr);
      const noEvent = await run(['send', '--url', url, '--room', 'payloads', '--data', '"bare"']);
      assert.equal(noEvent.code, 0, noEvent.stderr);
      await waitFor(() => json.lines.filter((l) => !warm(l)).length >= 3 && plain.lines.filter((l) => !warm(l)).length >= 3, 'the three messages on both tails');
      const entries = json.lines.filter((l) => !warm(l)).map((l) => JSON.parse(l) as Entry);
      assert.deepEqual(
        entries.map((e) => (e.type === 'message' ? [e.text, e.data, e.event] : [])),
        [['', { x: 1, list: [true, null] }, 'custom'], ['with text', [1, 2], undefined], ['', 'bare', undefined]],
      );
      const lines = plain.lines.filter((l) => !warm(l)).map((l) => l.replace(/^\d\d:\d\d:\d\d #\d+ /, ''));
      assert.deepEqual(lines, ['cli: [custom] {"x":1,"list":[true,null]}', 'cli: with text', 'cli: "bare"']);
    } finally {
      json.child.kill('SIGINT');
      plain.child.kill('SIGINT');
    }
    assert.deepEqual(await Promise.all([json.done, plain.done]), [0, 0]);
    // Nothing to send, or --data that is not JSON: a usage mistake (exit 2), nothing sent.
    const [nothing, badJson, nullData] = await Promise.all([
      run(['send', '--url', url, '--room', 'payloads', '--event', 'lonely']),
      run(['send', '--url', url, '--room', 'payloads', '--data', '{nope']),
      // null is no data (the server's TEXT_REQUIRED, exit 1, said so after a round trip).
      run(['send', '--url', url, '--room', 'payloads', '--data', 'null']),
    ]);
    assertOneLineError(nothing, /nothing to send/);
    assert.equal(nothing.code, 2);
    assertOneLineError(nullData, /nothing to send/);
    assert.equal(nullData.code, 2);
    assertOneLineError(badJson, /--data is not JSON/);
    assert.equal(badJson.code, 2);
  });

  it('chat: driven through piped stdin, sends each line in order and exits at EOF after the acks', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/piped/`, { method: 'PUT' });
    assert.ok((await post('piped', 'said before the chat')).ok);
    const input = ['hello from a pipe', 'second line', '/who', '/transport polling', 'third line', '//not a command', '/help', ''].join('\n');
    const r = await run(['chat', '--url', url, '--room', 'piped', '--name', 'piper'], input);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /said before the chat/, 'history shown on join');
    assert.match(r.stdout, /\* joined #piped as piper/);
    assert.match(r.stdout, /\* in #piped: .*piper/, '/who');
    assert.match(r.stdout, /\* now on polling/, '/transport');
    assert.match(r.stdout, /\/join <room>/, '/help');
    assert.doesNotMatch(r.stdout, /\u001b\[/, 'no colours when piped');
    const sent = (await history('piped')).filter((e) => e.type === 'message' && e.from.name === 'piper');
    assert.deepEqual(
      sent.map((e) => (e.type === 'message' ? e.text : undefined)),
      ['hello from a pipe', 'second line', 'third line', '/not a command'],
    );
    assert.equal(sent[2]!.from.transport, 'http', 'sent over polling after the switch');
  });

  it('piped chat whose line the server refuses exits 1 saying it was refused, not unacknowledged', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/refusals`, { method: 'PUT' });
    const theirs = (await (await post('refusals', 'not yours to edit')).json()) as { seq: number };
    const r = await run(['chat', '--url', url, '--room', 'refusals', '--name', 'editor'], `fine\n/edit ${theirs.seq} mine now\n`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /not edited \(FORBIDDEN: /, 'the refusal, as it came');
    assert.equal(r.stderr, 'switchboard: 1 line was refused (see above)\n');
  });

  it('chat: /join moves to another room; /quit ends', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/first-room`, { method: 'PUT' });
    await fetch(`${url}/api/rooms/second-room`, { method: 'PUT' });
    const r = await run(['chat', '--url', url, '--room', 'first-room', '--name', 'mover', '--transport', 'sse'], 'in the first\n/join no-such-room\n/join second-room\nin the second\n/quit\nnever sent\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cannot join #no-such-room: ROOM_NOT_FOUND/);
    assert.deepEqual(
      (await history('first-room')).filter((e) => e.type === 'message').map((e) => e.text),
      ['in the first'],
    );
    assert.deepEqual(
      (await history('second-room')).filter((e) => e.type === 'message').map((e) => e.text),
      ['in the second'],
    );
  });

  it('fails with one line and a non-zero exit: unreachable server, bad URL, unknown room, refused token', { timeout: 40_000 }, async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const [unreachable, unreachableChat, unreachableTail, badUrl, badScheme, unknownRoom, unknownRoomTail, badToken, badTokenTail, badTokenChat, noToken, goodToken, badTransport] = await Promise.all([
      run(['send', '--url', closed, 'hi']),
      run(['chat', '--url', closed, '--name', 'x']),
      run(['tail', '--url', closed, '--transport', 'sse']),
      run(['send', '--url', 'not a url', 'hi']),
      run(['tail', '--url', 'ftp://example.com']),
      run(['send', '--url', url, '--room', 'no-such-room', 'hi']),
      run(['tail', '--url', url, '--room', 'no-such-room', '--transport', 'long-polling']),
      run(['send', '--url', lockedUrl, '--token', 'wrong', 'hi']),
      run(['tail', '--url', lockedUrl, '--token', 'wrong', '--transport', 'websocket']),
      run(['chat', '--url', lockedUrl, '--token', 'wrong', '--transport', 'polling']),
      run(['send', '--url', lockedUrl, '--transport', 'sse', 'hi']),
      run(['send', '--url', lockedUrl, '--token', lockedToken, 'let me in']),
      run(['send', '--url', url, '--transport', 'carrier-pigeon', 'hi']),
    ]);
    assertOneLineError(unreachable, /cannot reach .*ECONNREFUSED/);
    assert.equal(unreachable.code, 1);
    assertOneLineError(unreachableChat, /cannot reach/);
    assertOneLineError(unreachableTail, /cannot reach/);
    assertOneLineError(badUrl, /invalid --url/);
    assert.equal(badUrl.code, 2);
    assertOneLineError(badScheme, /invalid --url/);
    assertOneLineError(unknownRoom, /ROOM_NOT_FOUND/);
    assertOneLineError(unknownRoomTail, /ROOM_NOT_FOUND/);
    for (const r of [badToken, badTokenTail, badTokenChat, noToken]) assertOneLineError(r, /UNAUTHORIZED/);
    assert.equal(goodToken.code, 0, goodToken.stderr);
    assert.match(goodToken.stdout, /^\d+\n$/);
    assertOneLineError(badTransport, /--transport: "carrier-pigeon" is not valid, expected one of /);
    assert.equal(badTransport.code, 2);
  });

  it('usage mistakes of chat, send, tail, token and the command itself: one line, exit 2 (as serve); --help exits 0', { timeout: 40_000 }, async () => {
    const cases: [string[], RegExp][] = [
      [['send', '--bogus', 'hi'], /unknown option '--bogus'/],
      [['send', '--timeout', 'soon', 'hi'], /^switchboard: --timeout: "soon" is not valid, expected a whole number, 1 or more$/],
      [['send', '--url'], /--url <url>' argument missing/],
      [['tail', '--history', 'lots'], /^switchboard: --history: "lots" is not valid, expected a whole number, 0 or more$/],
      [['tail', '--history', '-1'], /^switchboard: --history: "-1" is not valid, expected a whole number, 0 or more$/],
      [['tail', '--transport', 'pigeon'], /--transport: "pigeon" is not valid, expected one of /],
      [['tail', 'one', 'two'], /too many arguments/],
      [['chat', 'one', 'two'], /too many arguments/],
      [['chat', '--history', '-1'], /^switchboard: --history: "-1" is not valid, expected a whole number, 0 or more$/],
      [['chat', '--nope'], /unknown option '--nope'/],
      [['token', '--sub'], /--sub <id>' argument missing/],
      [['token', '--sub', 'ann', '--room', 'lobby:fly', '--secret', 's'], /unknown right "fly"/],
      [['token', '--sub', 'ann'], /no secret/],
      [['nope'], /unknown command 'nope'/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    for (const [i, [args, pattern]] of cases.entries()) {
      const r = results[i]!;
      assertOneLineError(r, pattern);
      assert.equal(r.code, 2, `switchboard ${args.join(' ')}: exit ${r.code} (${r.stderr.trim()})`);
      assert.equal(r.stdout, '', `switchboard ${args.join(' ')} prints nothing on stdout`);
    }
    const help = await run(['chat', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--create/);
    assert.match(help.stdout, /\/edit <seq> <text>/, 'the commands inside the chat are in --help too');
  });
  it('tail shows replies with their quote, edits, deletes and reactions, and folded history; chat has /reply /edit /delete /react /search', { timeout: 40_000 }, async () => {
    const room = 'amended';
    await fetch(`${url}/api/rooms/${room}`, { method: 'PUT' });
    // The CLI's member for a name on an open server (src/cli/client-options.ts).
    const ann = { name: 'ann', member: `cli-${createHash('sha256').update('ann').digest('hex').slice(0, 16)}` };
    const as = (who: { name: string; member: string }): string => `name=${who.name}&member=${who.member}`;
    const say = async (text: string, extra: Record<string, unknown> = {}): Promise<number> => {
      const r = await fetch(`${url}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, ...ann, ...extra }) });
      assert.equal(r.status, 201, await r.clone().text());
      return ((await r.json()) as { seq: number }).seq;
    };
    const amend = async (method: string, path: string, body: unknown, who = ann): Promise<void> => {
      const r = await fetch(`${url}/api/rooms/${room}/messages/${path}?${as(who)}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 201, `${method} ${path}: ${await r.text()}`);
    };
    // Folded history: an edited message with reactions, a deleted one, a reply to it.
    const edited = await say('first draft');
    await amend('PATCH', String(edited), { text: 'final text' });
    await amend('POST', `${edited}/reactions`, { emoji: '👍' });
    await amend('POST', `${edited}/reactions`, { emoji: '👍' }, { name: 'bob', member: 'bob' });
    await amend('POST', `${edited}/reactions`, { emoji: '❤️' }, { name: 'bob', member: 'bob' });
    const gone = await say('regrettable');
    const quoting = await say('quoting it', { replyTo: gone });
    await amend('DELETE', String(gone), {});

    const tail = start(['tail', '--url', url, '--room', room, '--history', '10']);
    children.push(tail.child);
    try {
      await waitFor(() => tail.lines.length >= 3, `history lines (stderr: ${tail.stderr()})`);
      const strip = (l: string): string => l.replace(/^\d\d:\d\d:\d\d /, '');
      assert.deepEqual(tail.lines.slice(0, 3).map(strip), [
        `#${edited} ann: final text (edited)  👍 2 ❤️ 1`,
        `#${gone} ann: [message deleted]`,
        `#${quoting} ann: [re #${gone}: message deleted] quoting it`,
      ]);
      // Live, through chat's commands (piped: each line in order, exit at the end once acknowledged).
      const input = [`/reply ${edited} agreed`, `/edit ${edited} really final`, `/react ${edited} 🎉`, `/react ${edited} 🎉`, `/delete ${quoting}`, '/search REALLY fin', '/search nothing-like-this', '/edit 99999 nope', ''].join('\n');
      const chat = await run(['chat', '--url', url, '--room', room, '--name', 'ann', '--history', '0'], input);
      assert.match(chat.stdout, new RegExp(`1 message matches "REALLY fin":\\n\\d\\d:\\d\\d:\\d\\d #${edited} ann \\(you\\): really final \\(edited\\)  👍 2 ❤️ 1\\n`));
      assert.match(chat.stdout, /no message matches "nothing-like-this"/);
      assert.match(chat.stdout, /not edited \(MESSAGE_NOT_FOUND[^)]*\): #99999/);
      assert.equal(chat.code, 1, 'a refused command makes the exit code 1');
      await waitFor(() => tail.lines.length >= 8, `live lines (got ${tail.lines.length}: ${tail.lines.join(' | ')})`);
      const live = tail.lines.slice(3, 8).map(strip);
      assert.match(live[0]!, new RegExp(`^#\\d+ ann: \\[re #${edited} ann: "final text"\\] agreed$`));
      assert.deepEqual(live.slice(1), [`* ann edited #${edited}: really final`, `* ann reacted 🎉 to #${edited}`, `* ann took back 🎉 from #${edited}`, `* ann deleted #${quoting}`]);
    } finally {
      tail.child.kill('SIGINT');
    }
    assert.equal(await tail.done, 0);
  });
});
