import { Command, Option } from 'commander';
import { connect } from '../client/index.js';
import { parseCursor } from '../protocol/cursor.js';
import type { Entry } from '../protocol/types.js';
import { connectOptions, describeError, exit, failWith, runGuarded, withClientOptions, withRoomArgument, type ClientFlags } from './client-options.js';
import { clock, colourWanted, formatEntry, palette, type Palette } from './format-entry.js';
import { recentMessages } from './recent-messages.js';
import { wholeNumber } from './usage-errors.js';

interface TailFlags extends ClientFlags {
  json?: boolean;
  history?: number;
  presence?: boolean;
}

/**
 * `switchboard tail`: one line per message as it arrives, for scripts, and one per edit, delete
 * and reaction (`* ann edited #12: new text`); `--json` prints each entry as one JSON object per
 * line. `--history N` first prints the last N messages. Runs until
 * interrupted (exit 0); reconnects by itself (notices on stderr); a terminal failure (token
 * refused, room gone) ends it with one line on stderr and exit code 1.
 */
export function tailCommand(): Command {
  return withRoomArgument(withClientOptions(new Command('tail'), 'tail'))
    .description('print messages (and their edits, deletes, reactions) as they arrive, one per line')
    .addOption(new Option('--json', 'one JSON entry per line'))
    .addOption(new Option('--history <n>', 'first print the last n messages (as they are now: edited, deleted, reactions)').argParser(wholeNumber(0)))
    .addOption(new Option('--presence', 'also print who joins and leaves (--json: the join and leave entries a server with --presence-entries writes)'))
    .action(async (_room: string | undefined, flags: TailFlags) => {
      await runGuarded(flags, async () => {
        const p = palette(!flags.json && colourWanted());
        const client = await connect(connectOptions(flags, flags.name ?? 'tail'));
        // Plain lines of who joins and leaves come from the member list, which every server keeps:
        // join and leave entries exist only where the server writes them (--presence-entries).
        const presenceLines = flags.presence === true && !flags.json;
        const print = (e: Entry): void => {
          if ((e.type === 'join' || e.type === 'leave') && (!flags.presence || presenceLines)) return;
          process.stdout.write(`${flags.json ? JSON.stringify(e) : formatEntry(e, p, e.from.member === client.member)}\n`);
        };
        // Live entries wait until the history before them is printed.
        let early: Entry[] | undefined = [];
        client.on('entry', (e) => (early ? early.push(e) : print(e)));
        if (presenceLines) {
          let known: Map<string, string> | undefined;
          client.on('presence', (members) => {
            const now = new Map(members.map((m) => [m.member, m.name]));
            // The first list is who was here when tail came: the baseline, not arrivals.
            if (known) for (const line of presenceChanges(known, now, p)) process.stdout.write(`${line}\n`);
            known = now;
          });
        }
        let lastError: unknown;
        client.on('error', (err) => (lastError = err));
        client.on('status', (s) => {
          if (s.status === 'reconnecting' && s.retryInMs !== undefined) process.stderr.write(`switchboard: connection lost, reconnecting in ${(s.retryInMs / 1000).toFixed(1)} s\n`);
          if (s.status === 'closed' && !stopping) failWith(lastError ?? new Error('the connection was closed'), flags);
        });
        client.on('reset', (r) => process.stderr.write(`switchboard: the room's history was ${r.reason === 'epoch' ? 'reset' : 'trimmed'}: restarting from the oldest kept entry\n`));
        let stopping = false;
        const stop = (): void => {
          if (stopping) return;
          stopping = true;
          void client.close().finally(() => exit(0));
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        // stdout closed by the reader (`tail | head -n 3`): stop quietly.
        process.stdout.on('error', stop);
        if (flags.history !== undefined && flags.history > 0) {
          const start = parseCursor(client.cursor)?.seq ?? 0;
          try {
            for (const e of await recentMessages(client, flags.history, start + 1)) print(e);
          } catch (err) {
            process.stderr.write(`switchboard: no history: ${describeError(err)}\n`);
          }
        }
        const waiting = early;
        early = undefined;
        for (const e of waiting) print(e);
      });
    });
}

/** `12:00:01 * ann joined` and `* bob left` lines for what changed from `before` to `after` (member id → name). */
export function presenceChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, p: Palette, now = Date.now()): string[] {
  const at = clock(now);
  const lines: string[] = [];
  for (const [member, name] of after) if (!before.has(member)) lines.push(p.dim(`${at} * ${name} joined`));
  for (const [member, name] of before) if (!after.has(member)) lines.push(p.dim(`${at} * ${name} left`));
  return lines;
}
