import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Entry, HistoryPage, TransportName } from '../src/protocol/types.js';
import { TRANSPORTS } from '../src/protocol/types.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';
import { runCli, type CliResult } from './fixtures/cli-run.js';



/** Runs `switchboard chat` to its end with `input` piped on stdin, colours off. */
function chat(args: string[], input: string, timeoutMs = 25_000): Promise<CliResult> {
  return runCli(['chat', ...args], { input, timeoutMs });
}

/** The own messages a transcript shows, `[seq, text]` in the order printed. */
function ownLines(stdout: string, name: string): [number, string][] {
  const own = new RegExp(`^\\d\\d:\\d\\d:\\d\\d #(\\d+) ${name} \\(you\\): (.*)$`);
  return stdout.split('\n').flatMap((line): [number, string][] => {
    const m = own.exec(line);
    return m ? [[Number(m[1]), m[2]!]] : [];
  });
}

/**
 * Piped `switchboard chat` prints every line it sent once, in order, as the room's stream brings
 * it back, on every transport: at end of input it waits for its own messages on the stream, not
 * just for their acks (the polling transports bring them a poll after the ack).
 */
describe('switchboard chat: the transcript of piped input', () => {
  let server: Switchboard;
  let url: string;

  const stored = async (room: string, name: string): Promise<[number, string][]> => {
    const page = (await (await fetch(`${url}/api/rooms/${room}/messages?limit=100`)).json()) as HistoryPage;
    return page.entries.flatMap((e: Entry): [number, string][] => (e.type === 'message' && e.from.name === name ? [[e.seq, e.text]] : []));
  };

  before(async () => {
    server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', rateLimitPerSecond: 10_000, rateLimitBurst: 10_000 });
    url = `http://127.0.0.1:${await server.listen()}`;
  });
  after(async () => {
    await server.close();
  });

  /** Pipes `input` into a chat on `transport` in a fresh room and checks the transcript against the log. */
  async function check(room: string, transport: TransportName, input: string, texts: string[]): Promise<CliResult> {
    await fetch(`${url}/api/rooms/${room}`, { method: 'PUT' });
    // Someone else's message before: the stream's seqs do not start at ours.
    await fetch(`${url}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'earlier', name: 'other' }) });
    const r = await chat(['--url', url, '--room', room, '--name', 'piper', '--transport', transport, '--history', '0'], input);
    assert.equal(r.code, 0, `exit code (stderr: ${r.stderr})`);
    assert.equal(r.stderr, '', 'every line came back on the stream: nothing printed from its ack');
    const log = await stored(room, 'piper');
    assert.deepEqual(log.map(([, text]) => text), texts, 'stored in order');
    assert.deepEqual(ownLines(r.stdout, 'piper'), log, `each line printed once, in order, with its seq:\n${r.stdout}`);
    return r;
  }

  for (const transport of TRANSPORTS) {
    it(`over ${transport}: every line piped is printed once, in order, then exit 0`, { timeout: 30_000 }, async () => {
      await check(`transcript-${transport}`, transport, 'first line\nsecond line\nthird line\n', ['first line', 'second line', 'third line']);
    });
  }

  it('with /transport switches in the middle: every line is printed once, in order, the last one too', { timeout: 30_000 }, async () => {
    const input = ['before the switch', '/transport sse', 'over sse', '/transport polling', 'over polling', 'last over polling', ''].join('\n');
    const r = await check('transcript-switch', 'long-polling', input, ['before the switch', 'over sse', 'over polling', 'last over polling']);
    assert.match(r.stdout, /\* now on sse\n[^]*\* now on polling\n/);
  });
});
