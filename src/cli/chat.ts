import { userInfo } from 'node:os';
import readline from 'node:readline';
import { Command, Option } from 'commander';
import { connect } from '../client/index.js';
import { CLIENT_DEFAULTS } from '../client/options.js';
import { parseCursor } from '../protocol/cursor.js';
import { SwitchboardError } from '../protocol/errors.js';
import { TRANSPORTS, type Ack, type Entry, type TransportName } from '../protocol/types.js';
import type { Client } from '../client/types.js';
import { connectOptions, describeError, exit, failWith, runGuarded, withClientOptions, withRoomArgument, type ClientFlags } from './client-options.js';
import { colourWanted, formatEntry, palette, type Palette } from './format-entry.js';
import { recentMessages } from './recent-messages.js';
import { wholeNumber } from './usage-errors.js';

interface ChatFlags extends ClientFlags {
  history: number;
}

const HELP = [
  '/reply <seq> <text>   answer message #seq',
  '/edit <seq> <text>    change your message #seq',
  '/delete <seq>         delete your message #seq',
  '/react <seq> <emoji>  add your reaction to #seq, or take it back',
  '/search <words>       messages with all these words (prefixes)',
  '/transport <auto|websocket|sse|long-polling|polling>  switch transport live',
  '/join <room>  leave this room for another',
  '/who          who is here',
  '/help         this list',
  '/quit         leave (also Ctrl-C, Ctrl-D)',
  'Lines starting with // are sent as text starting with /.',
];

/** How long, at the end of piped input, unacknowledged messages may take before the exit is a failure. */
const DRAIN_TIMEOUT_MS = 15_000;

/**
 * How long, at the end of piped input, the stream the chat reads may bring none of our
 * acknowledged lines back: short polling polls again once a line is acknowledged, and at the
 * latest at its next poll (CLIENT_DEFAULTS.pollIntervalMs), so a few seconds past that. Past
 * it, the missing ones are printed from their acks: they were stored.
 */
const ECHO_TIMEOUT_MS = CLIENT_DEFAULTS.pollIntervalMs + 5000;

/**
 * `switchboard chat`: an interactive chat on a terminal (node:readline), or a line-per-message
 * sender when stdin is piped: every line is sent in order, and at end of input it waits for every
 * ack, and for every acknowledged line to come back on the room's stream, so the transcript holds
 * each once and in order on every transport (bounded by ECHO_TIMEOUT_MS: past it, the missing
 * ones are printed from their acks, and said on stderr), then exits 0 (1 if the server refused
 * a line, or one was not acknowledged). History is shown on join, then
 * messages as they come, own ones set apart; colours only on a terminal without NO_COLOR.
 */
export function chatCommand(): Command {
  return withRoomArgument(withClientOptions(new Command('chat'), defaultName()))
    .description('chat in a room (interactive, or send each line of piped stdin)')
    .addOption(new Option('--history <n>', 'messages of history shown on join').default(20).argParser(wholeNumber(0)))
    .addHelpText('after', `\nIn the chat (each message shows its #seq):\n${HELP.map((l) => `  ${l}`).join('\n')}`)
    .action(async (_room: string | undefined, flags: ChatFlags) => {
      await runGuarded(flags, () => new ChatSession(flags).start());
    });
}

function defaultName(): string {
  try {
    return process.env.USER || userInfo().username || 'guest';
  } catch {
    return 'guest';
  }
}

/** The newest seq a room's stream brought (or its start). */
interface Stream {
  seq: number;
}

class ChatSession {
  private client!: Client;
  private readonly interactive = process.stdin.isTTY === true;
  private readonly p: Palette = palette(colourWanted());
  private rl!: readline.Interface;
  /** Lines are handled one after the other: a /join waits for the sends before it. */
  private queue: Promise<void> = Promise.resolve();
  private readonly pending = new Set<Promise<Ack | undefined>>();
  /** Lines the server refused (its error printed), and lines that got no answer (network, timeout). */
  private refused = 0;
  private failures = 0;
  private quitting = false;
  private detach: (() => void)[] = [];
  /**
   * Piped only: what the server stored for us (by seq) and the stream has not brought back yet,
   * with what to print should it not come. The polling transports bring an entry a poll after
   * its ack; an exit at the ack would drop it from the transcript.
   */
  private readonly unechoed = new Map<number, () => string>();
  /** Where the current room's stream is: the SDK hands entries over in seq order. */
  private stream: Stream = { seq: 0 };
  /** Told when some of `unechoed` came back (`all` once none is left). */
  private echoed: ((all: boolean) => void) | undefined;

  constructor(private readonly flags: ChatFlags) {}

  async start(): Promise<void> {
    [this.client, this.stream] = await this.join(this.flags.room);
    this.rl = readline.createInterface({ input: process.stdin, output: this.interactive ? process.stdout : undefined, terminal: this.interactive, prompt: '> ' });
    this.rl.on('line', (line) => (this.queue = this.queue.then(() => this.onLine(line))));
    // End of input (Ctrl-D, or the end of a pipe): finish what was sent, then leave.
    this.rl.on('close', () => (this.queue = this.queue.then(() => this.quit())));
    this.rl.on('SIGINT', () => void this.quit(true));
    process.on('SIGINT', () => void this.quit(true));
    process.on('SIGTERM', () => void this.quit(true));
    if (this.interactive) {
      process.stdin.on('keypress', () => this.client.typing());
      this.print(this.p.dim('Type a message and press Enter. /help for commands.'));
      this.rl.prompt();
    }
  }

  /** Connects to a room and shows its recent history; live messages follow it. */
  private async join(room: string): Promise<[Client, Stream]> {
    const client = await connect({ ...connectOptions({ ...this.flags, room }, this.flags.name ?? defaultName()), ...(this.client ? { member: this.client.member } : {}) });
    let early: Entry[] | undefined = [];
    const show = (e: Entry): void => this.print(formatEntry(e, this.p, e.type === 'message' && e.from.member === client.member));
    // What was stored before the subscription's start never comes on the stream (a duplicate's ack).
    const stream: Stream = { seq: parseCursor(client.cursor)?.seq ?? 0 };
    const live = (e: Entry): void => {
      show(e);
      stream.seq = e.seq;
      if (stream === this.stream) this.settleEchoes();
    };
    let lastError: unknown;
    let wasDown = false;
    this.detach = [
      client.on('entry', (e) => (early ? early.push(e) : live(e))),
      client.on('error', (err) => (lastError = err)),
      client.on('status', (s) => {
        if (s.status === 'reconnecting' && s.retryInMs !== undefined) this.notice(`connection lost: reconnecting in ${(s.retryInMs / 1000).toFixed(1)} s`);
        else if (s.status === 'connected' && wasDown) this.notice(`connected again over ${s.transport}`);
        else if (s.status === 'offline') this.notice('offline: waiting for the network');
        else if (s.status === 'closed' && !this.quitting && client === this.client) {
          this.rl?.close();
          failWith(lastError ?? new Error('the connection was closed'), this.flags);
        }
        wasDown = s.status === 'reconnecting' || s.status === 'offline';
      }),
      client.on('reset', (r) => this.notice(`the room's history was ${r.reason === 'epoch' ? 'reset' : 'trimmed'}: restarting from the oldest kept entry`)),
    ];
    this.notice(`joined #${room} as ${client.name} over ${client.transport}`);
    if (this.flags.history > 0) {
      const start = stream.seq;
      try {
        for (const e of await recentMessages(client, this.flags.history, start + 1)) show(e);
      } catch (err) {
        this.notice(`no history: ${describeError(err)}`);
      }
    }
    const waiting = early;
    early = undefined;
    for (const e of waiting) live(e);
    return [client, stream];
  }

  private async onLine(raw: string): Promise<void> {
    if (this.quitting) return;
    const line = raw.trimEnd();
    if (this.interactive) {
      // Replace the typed line by the message as the room sees it, when it comes back.
      readline.moveCursor(process.stdout, 0, -1);
      readline.clearLine(process.stdout, 0);
    }
    if (line.startsWith('/') && !line.startsWith('//')) await this.command(line);
    else if (line.trim() !== '') this.send(line.startsWith('//') ? line.slice(1) : line);
    if (this.interactive && !this.quitting) this.rl.prompt();
  }

  private send(text: string, replyTo?: number): void {
    const { name, member } = this.client;
    // Should it not come back on the stream, the message as the room got it, from its ack.
    const asStored = (ack: Ack): string =>
      formatEntry({ type: 'message', room: ack.room, seq: ack.seq, ts: ack.ts, from: { id: member, name, member }, text, ...(replyTo !== undefined ? { replyTo } : {}) }, this.p, true);
    this.track(this.client.publish(text, replyTo !== undefined ? { replyTo } : {}), `not sent`, text, asStored);
  }

  /**
   * Follows a publish or an amendment to its ack, like every line sent: the end of piped input
   * waits for it, and a refusal is printed (and makes the exit code 1). Piped, the acknowledged
   * one is then awaited on the stream; `asStored` is the line printed should it not come.
   */
  private track(sent: Promise<Ack>, failed: string, what: string, asStored: (ack: Ack) => string): void {
    if (this.client.status !== 'connected') this.notice(`queued until reconnected: ${what}`);
    const stream = this.stream;
    const tracked = sent.then(
      (ack) => {
        if (!this.interactive) this.expectEcho(stream, ack, asStored);
        return ack;
      },
      (err: unknown) => {
        if (err instanceof SwitchboardError) this.refused++;
        else this.failures++;
        this.print(this.p.error(`${failed} (${describeError(err)}): ${what}`));
        return undefined;
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** `/search <words>`: the matches, newest first, one line each (after what was sent before it is stored). */
  private async search(words: string): Promise<void> {
    await this.drain();
    try {
      const found = await this.client.search(words, { limit: 20 });
      if (found.results.length === 0) {
        this.notice(`no message matches "${words}"`);
        return;
      }
      const n = found.results.length;
      this.notice(`${n}${found.more ? '+' : ''} message${n === 1 && !found.more ? ' matches' : 's match'} "${words}"${found.complete ? '' : ' (among the newest only)'}:`);
      for (const m of found.results) this.print(formatEntry(m, this.p, m.from.member === this.client.member));
    } catch (err) {
      this.notice(`cannot search: ${describeError(err)}`);
    }
  }

  private async command(line: string): Promise<void> {
    const [name, ...args] = line.slice(1).split(/\s+/);
    const arg = args.join(' ').trim();
    // `/edit 12 text`, `/reply 12 text`, `/delete 12`, `/react 12 👍`: a seq (`#12` too), then the rest.
    const [first = '', ...rest] = args;
    const seq = /^#?\d+$/.test(first) ? Number(first.replace('#', '')) : undefined;
    const after = rest.join(' ').trim();
    switch (name) {
      case 'reply':
      case 'edit':
        if (seq === undefined || after === '') {
          this.notice(`usage: /${name} <seq> <text>`);
          return;
        }
        if (name === 'reply') this.send(after, seq);
        else this.track(this.client.edit(seq, after), `not edited`, `#${seq}`, (ack) => this.noticeLine(`#${ack.seq}: you edited #${seq}: ${after}`));
        return;
      case 'delete':
        if (seq === undefined || after !== '') {
          this.notice('usage: /delete <seq>');
          return;
        }
        this.track(this.client.delete(seq), 'not deleted', `#${seq}`, (ack) => this.noticeLine(`#${ack.seq}: you deleted #${seq}`));
        return;
      case 'react':
        if (seq === undefined || after === '' || /\s/.test(after)) {
          this.notice('usage: /react <seq> <emoji>');
          return;
        }
        this.track(this.client.react(seq, after), 'no reaction', `${after} on #${seq}`, (ack) => this.noticeLine(`#${ack.seq}: you reacted (or took back) ${after} on #${seq}`));
        return;
      case 'search':
        if (arg === '') {
          this.notice('usage: /search <words>');
          return;
        }
        await this.search(arg);
        return;
      case 'transport': {
        if (arg !== 'auto' && !(TRANSPORTS as readonly string[]).includes(arg)) {
          this.notice(`usage: /transport <auto|${TRANSPORTS.join('|')}> (now: ${this.client.transport})`);
          return;
        }
        try {
          await this.client.setTransport(arg as TransportName | 'auto');
          this.notice(`now on ${this.client.transport}`);
        } catch (err) {
          this.notice(`cannot switch to ${arg}: ${describeError(err)}`);
        }
        return;
      }
      case 'join': {
        if (!arg) {
          this.notice('usage: /join <room>');
          return;
        }
        await this.drain();
        await this.awaitEchoes();
        const old = this.client;
        const oldDetach = this.detach;
        try {
          [this.client, this.stream] = await this.join(arg);
        } catch (err) {
          this.detach = oldDetach;
          this.notice(`cannot join #${arg}: ${describeError(err)}`);
          return;
        }
        for (const off of oldDetach) off();
        await old.close();
        return;
      }
      case 'who': {
        const members = this.client.presence();
        this.notice(
          members.length === 0 ? `nobody in #${this.client.room}` : `in #${this.client.room}: ${members.map((m) => `${m.name}${m.transports.length ? ` (${m.transports.join(', ')})` : ''}`).join(', ')}`,
        );
        return;
      }
      case 'help':
        for (const l of HELP) this.notice(l);
        return;
      case 'quit':
      case 'exit':
        await this.quit();
        return;
      default:
        this.notice(`unknown command /${name ?? ''}: try /help`);
    }
  }

  /** Waits for every message sent so far to be acknowledged (or to fail), bounded. */
  private async drain(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS)));
    const done = Promise.allSettled([...this.pending]).then(() => true);
    const ok = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** Piped: waits for `ack`'s entry on the stream, unless it came already (or before the stream's start). */
  private expectEcho(stream: Stream, ack: Ack, asStored: (ack: Ack) => string): void {
    if (stream !== this.stream || ack.seq <= stream.seq) return;
    this.unechoed.set(ack.seq, () => asStored(ack));
  }

  /** Forgets what the stream has now brought: it comes in seq order, so everything up to its newest seq. */
  private settleEchoes(): void {
    const before = this.unechoed.size;
    for (const seq of this.unechoed.keys()) if (seq <= this.stream.seq) this.unechoed.delete(seq);
    if (this.unechoed.size < before) this.echoed?.(this.unechoed.size === 0);
  }

  /**
   * Waits for every acknowledged line to come back on the stream, as long as some come within
   * ECHO_TIMEOUT_MS (a long pipe over short polling takes several polls); prints the ones that
   * did not from their acks (they were stored) and says so on stderr.
   */
  private async awaitEchoes(): Promise<void> {
    if (this.unechoed.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        const arm = (): void => {
          clearTimeout(timer);
          timer = setTimeout(resolve, ECHO_TIMEOUT_MS);
        };
        this.echoed = (all) => (all ? resolve() : arm());
        arm();
      });
      clearTimeout(timer);
      this.echoed = undefined;
    }
    if (this.unechoed.size === 0) return;
    const missing = [...this.unechoed.entries()].sort(([a], [b]) => a - b);
    this.unechoed.clear();
    for (const [, line] of missing) this.print(line());
    const seqs = missing.map(([seq]) => `#${seq}`).join(', ');
    process.stderr.write(`switchboard: stored but not back on the stream within ${ECHO_TIMEOUT_MS / 1000} s, shown from the server's ack: ${seqs}\n`);
  }

  /** Leaves: after the pending acks (unless interrupted), closes and exits (1 if a message was lost). */
  private async quit(interrupted = false): Promise<void> {
    if (this.quitting) {
      if (interrupted) exit(130);
      return;
    }
    const drained = interrupted ? true : await this.drain();
    if (!interrupted) await this.awaitEchoes();
    this.quitting = true;
    this.rl.close();
    const unsent = drained ? this.failures : this.failures + this.pending.size;
    await this.client.close();
    if (unsent > 0 || this.refused > 0) {
      const lines = (n: number): string => `${n} line${n === 1 ? ' was' : 's were'}`;
      const what = [this.refused > 0 ? `${lines(this.refused)} refused (see above)` : '', unsent > 0 ? `${lines(unsent)} not acknowledged` : ''].filter(Boolean);
      process.stderr.write(`switchboard: ${what.join(', ')}\n`);
      exit(1);
    }
    if (this.interactive) process.stdout.write('\n');
    exit(0);
  }

  /** Prints a line above the prompt (on a terminal) or as is (piped). */
  private print(line: string): void {
    if (this.interactive && this.rl) {
      readline.clearLine(process.stdout, 0);
      readline.cursorTo(process.stdout, 0);
      process.stdout.write(`${line}\n`);
      this.rl.prompt(true);
    } else process.stdout.write(`${line}\n`);
  }

  private notice(text: string): void {
    this.print(this.noticeLine(text));
  }

  private noticeLine(text: string): string {
    return this.p.dim(`* ${text}`);
  }
}
