import { createHash } from 'node:crypto';
import { Command, Option } from 'commander';
import { SwitchboardError } from '../protocol/errors.js';
import { ConnectionError } from '../client/errors.js';
import { TRANSPORTS } from '../protocol/types.js';
import { USAGE_EXIT_CODE, reportUsageErrors } from './usage-errors.js';
import type { ConnectOptions, TransportName } from '../client/types.js';

/** The flags every client command shares (`chat`, `send`, `tail`), as commander parses them. */
export interface ClientFlags {
  url: string;
  room: string;
  name?: string;
  transport: TransportName | 'auto';
  token?: string;
  create?: boolean;
}

/** Adds --url, --room, --name, --transport, --token and --create to a command, and its usage errors exit 2. */
export function withClientOptions(command: Command, defaultName?: string): Command {
  const name = new Option('-n, --name <name>', 'display name');
  if (defaultName !== undefined) name.default(defaultName);
  return reportUsageErrors(command)
    .addOption(new Option('-u, --url <url>', 'server URL (env SWITCHBOARD_URL)').default(process.env.SWITCHBOARD_URL ?? 'http://localhost:3000'))
    .addOption(new Option('-r, --room <room>', 'room').default('lobby'))
    .addOption(name)
    .addOption(new Option('-t, --transport <transport>', 'transport').choices(['auto', ...TRANSPORTS]).default('auto'))
    .addOption(new Option('--token <token>', 'bearer token, when the server requires one (env SWITCHBOARD_TOKEN)').default(process.env.SWITCHBOARD_TOKEN))
    .addOption(new Option('--create', 'create the room when it does not exist'));
}

/**
 * The room as an optional argument beside --room (`switchboard tail lobby`, as a newcomer types
 * it first): the argument sets --room before the action runs; naming two different rooms, one
 * each way, is a usage error (exit 2).
 */
export function withRoomArgument(command: Command): Command {
  return command.argument('[room]', 'the room (the same as --room; default lobby)').hook('preAction', (_, action) => {
    const room = action.processedArgs[0] as string | undefined;
    if (room === undefined) return;
    if (action.getOptionValueSource('room') === 'cli' && action.getOptionValue('room') !== room) {
      action.error(`two rooms named: "${room}" and --room "${String(action.getOptionValue('room'))}"; give one`, { exitCode: USAGE_EXIT_CODE });
    }
    action.setOptionValue('room', room);
  });
}

/** ConnectOptions from the shared flags. */
export function connectOptions(flags: ClientFlags, name: string): ConnectOptions {
  return {
    url: flags.url,
    room: flags.room,
    name,
    // One name, one member on an open server, so a message retried by a later run (same
    // --client-id) is recognised: clientIds are scoped to their sender. A token names its own member.
    member: `cli-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`,
    transport: flags.transport,
    ...(flags.token ? { token: flags.token } : {}),
    ...(flags.create ? { create: true } : {}),
  };
}

/** One line saying what went wrong, for stderr: never a stack trace. */
export function describeError(err: unknown, flags?: Pick<ClientFlags, 'url' | 'room'>): string {
  if (err instanceof SwitchboardError) {
    const hint =
      err.code === 'ROOM_NOT_FOUND' ? ' (add --create to make it)' : err.code === 'UNAUTHORIZED' ? (flags ? ' (check --token)' : '') : '';
    return `${err.code}: ${err.message}${hint}`;
  }
  if (err instanceof ConnectionError) {
    if (err.code === 'UNREACHABLE') return `${err.message}: is the server running${flags ? ` at ${flags.url}` : ''}?`;
    if (err.code === 'INVALID_URL') return `invalid --url: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Exit code of an error: 2 for a usage mistake (bad URL, bad option), 1 for anything else. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ConnectionError && err.code === 'INVALID_URL') return USAGE_EXIT_CODE;
  if (err instanceof SwitchboardError && (err.code === 'BAD_REQUEST' || err.code === 'INVALID_ROOM_NAME')) return USAGE_EXIT_CODE;
  return 1;
}

/** Writes to stderr and stdout are flushed, then the process exits with `code`. */
export function exit(code: number): never {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
  // Should a pipe never drain (the reader is gone), leave anyway.
  setTimeout(() => process.exit(code), 1000).unref();
  return undefined as never;
}

/** Prints the one-line error and exits with its code. */
export function failWith(err: unknown, flags?: Pick<ClientFlags, 'url' | 'room'>): never {
  process.stderr.write(`switchboard: ${describeError(err, flags)}\n`);
  return exit(exitCodeOf(err));
}

/**
 * Runs a command's body: any error, even one thrown later from a callback, ends the process
 * with one line on stderr and a non-zero code instead of a stack trace.
 */
export async function runGuarded(flags: Pick<ClientFlags, 'url' | 'room'>, body: () => Promise<void>): Promise<void> {
  process.on('uncaughtException', (err) => failWith(err, flags));
  process.on('unhandledRejection', (err) => failWith(err, flags));
  try {
    await body();
  } catch (err) {
    failWith(err, flags);
  }
}
