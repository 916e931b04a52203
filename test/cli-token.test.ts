import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { createTokenVerifier } from '../src/server/auth/token-verifier.js';
import { runCli, type CliResult } from './fixtures/cli-run.js';

const SECRET = 'cli-test-secret-0123456789abcdef';

type Result = CliResult;

/** Runs `switchboard token ...args` to its end, JWT_SECRET as given (never inherited). */
function run(args: string[], jwtSecret?: string): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.JWT_SECRET;
  if (jwtSecret !== undefined) env.JWT_SECRET = jwtSecret;
  return runCli(['token', ...args], { env });
}

/** The one line of stdout, checked to be a compact JWS and nothing else. */
function tokenOf(r: Result): string {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'the token and a newline, nothing else');
  return r.stdout.trimEnd();
}

/** Exit 2, one "switchboard: ..." line on stderr, no stack trace, nothing on stdout. */
function assertUsageError(r: Result, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^switchboard: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('switchboard token', { concurrency: true }, () => {
  it('prints an HS256 token whose claims are the flags, valid for the server verifier', { timeout: 30_000 }, async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = tokenOf(
      await run(['--sub', 'ann', '--name', 'Ann', '--room', 'lobby:read,write', '--room', 'news:read', '--room', 'team-*:read,create', '--room', 'lobby:admin', '--ttl', '1h', '--secret', SECRET, '--issuer', 'dev', '--audience', 'switchboard']),
    );
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' });
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], issuer: 'dev', audience: 'switchboard' });
    assert.equal(payload.sub, 'ann');
    assert.equal(payload.name, 'Ann');
    assert.deepEqual(payload.rooms, { lobby: ['read', 'write', 'admin'], news: ['read'], 'team-*': ['read', 'create'] });
    assert.ok(payload.iat! >= before && payload.iat! <= before + 30);
    assert.equal(payload.exp! - payload.iat!, 3600);

    const verified = await createTokenVerifier({ secret: SECRET, issuer: 'dev', audience: 'switchboard' }).verify(token);
    assert.equal(verified.member, 'ann');
    assert.deepEqual(verified.grants, { lobby: ['read', 'write', 'admin'], news: ['read'], 'team-*': ['read', 'create'] });
  });

  it('the secret from JWT_SECRET; no --name, --room, --issuer or --audience → only sub, iat, exp', { timeout: 30_000 }, async () => {
    const token = tokenOf(await run(['--sub', 'bob@example.com', '--ttl', '90s'], SECRET));
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET));
    assert.deepEqual(Object.keys(payload).sort(), ['exp', 'iat', 'sub']);
    assert.equal(payload.exp! - payload.iat!, 90);
    const verified = await createTokenVerifier({ secret: SECRET }).verify(token);
    assert.deepEqual({ ...verified, expiresAt: 0 }, { member: 'bob@example.com', name: 'bob@example.com', grants: {}, expiresAt: 0 });
  });

  it('--ttl: 15m, 7d, plain seconds; the default is 1h', { timeout: 30_000 }, async () => {
    const cases: [string[], number][] = [
      [['--ttl', '15m'], 900],
      [['--ttl', '7d'], 7 * 86_400],
      [['--ttl', '42'], 42],
      [[], 3600],
    ];
    const results = await Promise.all(cases.map(([flags]) => run(['--sub', 'ann', '--secret', SECRET, ...flags])));
    for (const [i, r] of results.entries()) {
      const { payload } = await jwtVerify(tokenOf(r), new TextEncoder().encode(SECRET));
      assert.equal(payload.exp! - payload.iat!, cases[i]![1], cases[i]![0].join(' '));
    }
  });

  it('--secret wins over JWT_SECRET', { timeout: 30_000 }, async () => {
    const token = tokenOf(await run(['--sub', 'ann', '--secret', SECRET], 'the-env-secret'));
    await jwtVerify(token, new TextEncoder().encode(SECRET));
  });

  it('usage errors: one stderr line, exit 2', { timeout: 40_000 }, async () => {
    const cases: [string[], RegExp][] = [
      [['--sub', 'ann'], /no secret: give --secret or set JWT_SECRET/],
      // As serve refuses it: an HS256 key shorter than its hash is guessed offline from any token.
      [['--sub', 'ann', '--secret', 'dev-secret'], /secret too short: 10 bytes, expected at least 32 .*openssl rand -base64 32/],
      [['--sub', 'ann', '--secret', SECRET, '--room', 'lobby'], /--room: .*room:rights/],
      [['--sub', 'ann', '--secret', SECRET, '--room', 'bad room:read'], /--room: .*room:rights/],
      [['--sub', 'ann', '--secret', SECRET, '--room', 'lobby:read,fly'], /unknown right "fly"/],
      [['--sub', 'ann', '--secret', SECRET, '--room', 'lobby:'], /unknown right ""/],
      [['--sub', 'ann', '--secret', SECRET, '--ttl', '1y'], /--ttl: .*90s, 15m, 1h, 7d/],
      [['--sub', 'ann', '--secret', SECRET, '--ttl', '0'], /--ttl/],
      [['--sub', 'ann', '--secret', SECRET, '--ttl', '-5m'], /--ttl/],
      [['--secret', SECRET], /required option '--sub/],
      [['--sub', 'not valid!', '--secret', SECRET], /--sub: .*1-64 characters/],
      [['--sub', 'ann', '--name', '', '--secret', SECRET], /--name/],
      [['--sub', 'ann', '--secret', SECRET, '--frobnicate'], /unknown option '--frobnicate'/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    for (const [i, r] of results.entries()) assertUsageError(r, cases[i]![1]);
  });

  it('--help says it is for development and exits 0', { timeout: 30_000 }, async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /for development/);
    assert.match(r.stdout, /--room <room:rights>/);
  });
});
