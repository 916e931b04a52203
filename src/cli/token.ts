import { mintToken } from '../server/auth/mint-token.js';
import { weakJwtSecret } from '../server/auth/jwt-secret.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { MAX_NAME_LENGTH } from '../protocol/constants.js';
import { RIGHTS, type Right } from '../server/auth/principal.js';
import { GRANT_KEY_PATTERN, MEMBER_ID_PATTERN } from '../server/auth/token-verifier.js';
import { USAGE_EXIT_CODE, reportUsageErrors } from './usage-errors.js';

interface TokenFlags {
  sub: string;
  name?: string;
  room: Record<string, Right[]>;
  ttl: number;
  secret?: string;
  issuer?: string;
  audience?: string;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `15m`, `1h`, `7d` or plain seconds → seconds; InvalidArgumentError otherwise. */
export function parseTtl(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2]!]! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new InvalidArgumentError('give a duration such as 90s, 15m, 1h, 7d or a number of seconds');
  return seconds;
}

/**
 * One `--room room:rights` added to the grants seen so far (a room given twice gets both lists).
 * InvalidArgumentError for a bad room or pattern, or a right not among read, write, create, admin.
 */
export function parseRoomGrant(value: string, previous: Record<string, Right[]> = {}): Record<string, Right[]> {
  const colon = value.indexOf(':');
  const room = colon < 0 ? value : value.slice(0, colon);
  if (colon < 0 || !GRANT_KEY_PATTERN.test(room)) throw new InvalidArgumentError('give room:rights, such as lobby:read,write or "team-*:read"');
  const rights = value.slice(colon + 1).split(',').map((r) => r.trim());
  for (const r of rights) {
    if (!(RIGHTS as readonly string[]).includes(r)) throw new InvalidArgumentError(`unknown right "${r}" (use ${RIGHTS.join(', ')})`);
  }
  // fromEntries/spread keep a "__proto__" room an ordinary key.
  return Object.fromEntries([...Object.entries(previous), [room, [...new Set([...(previous[room] ?? []), ...(rights as Right[])])]]]);
}

function parseSub(value: string): string {
  if (!MEMBER_ID_PATTERN.test(value)) throw new InvalidArgumentError('1-64 characters of A-Z a-z 0-9 _ : . @ -');
  return value;
}

function parseName(value: string): string {
  if (value.length < 1 || value.length > MAX_NAME_LENGTH || /\p{Cc}/u.test(value)) throw new InvalidArgumentError(`1-${MAX_NAME_LENGTH} characters, no control characters`);
  return value;
}

/**
 * `switchboard token --sub ann [--name Ann] [--room lobby:read,write]... [--ttl 1h] [--secret S]`:
 * prints an HS256 token for a server that has the same secret, and a newline; nothing else goes to
 * stdout. A usage mistake (no secret, bad --room, --ttl or right, unknown option) prints one line
 * on stderr and exits 2.
 */
export function tokenCommand(): Command {
  return reportUsageErrors(new Command('token'))
    .description('make an HS256 user token for development and tests (a real deployment has its own issuer)')
    .addOption(new Option('--sub <id>', 'member id (the "sub" claim)').argParser(parseSub).makeOptionMandatory())
    .addOption(new Option('--name <name>', 'display name (default: the member id)').argParser(parseName))
    .addOption(new Option('--room <room:rights>', 'rights in a room or pattern (*), comma-separated among read,write,create,admin; repeatable').argParser(parseRoomGrant))
    .addOption(new Option('--ttl <duration>', 'lifetime: 90s, 15m, 1h, 7d or seconds').default(3600, '1h').argParser(parseTtl))
    .addOption(new Option('--secret <secret>', 'HMAC secret (env JWT_SECRET, better: it stays out of ps and shell history)'))
    .addOption(new Option('--issuer <iss>', 'the "iss" claim'))
    .addOption(new Option('--audience <aud>', 'the "aud" claim'))
    .action(async (flags: TokenFlags, command: Command) => {
      const secret = flags.secret ?? process.env.JWT_SECRET;
      if (!secret) command.error('no secret: give --secret or set JWT_SECRET', { exitCode: USAGE_EXIT_CODE });
      // As serve refuses it: a token signed with a secret no server takes is of no use.
      const weak = weakJwtSecret(secret!);
      if (weak !== undefined) command.error(`secret too short: ${weak}`, { exitCode: USAGE_EXIT_CODE });
      const token = await mintToken(secret!, { sub: flags.sub, name: flags.name, rooms: flags.room, ttlSec: flags.ttl, issuer: flags.issuer, audience: flags.audience });
      process.stdout.write(`${token}\n`);
    });
}
