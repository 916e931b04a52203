import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { SwitchboardError, type ErrorCode } from '../src/protocol/errors.js';
import { requestToken, TOKEN_COOKIE } from '../src/server/auth/token-source.js';
import { mintToken } from '../src/server/auth/mint-token.js';
import { createTokenVerifier, loadTokenVerifierFromFiles, type TokenVerifier } from '../src/server/auth/token-verifier.js';

const SECRET = 'a-test-secret-of-a-decent-length-0123456789';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');
const nowSec = (): number => Math.floor(Date.now() / 1000);

/** A jose-made token: `claims` go in the payload as given (so `exp` and `sub` are set through them). */
function make(claims: JWTPayload, key: CryptoKey | Uint8Array, alg = 'HS256', header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ ...header, alg }).sign(key);
}

/** Resolves to the SwitchboardError `verify` rejects with, after checking its code. */
async function refused(verifier: TokenVerifier, token: string, code: ErrorCode, detail?: RegExp): Promise<SwitchboardError> {
  const err = await verifier.verify(token).then(
    (v) => assert.fail(`expected ${code}, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SwitchboardError, `a SwitchboardError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (detail) assert.match(err.message, detail);
  // Short, fixed messages: no library text, stack or key material.
  assert.doesNotMatch(err.message, /\n|\bat\s|BEGIN|jose|Error:/);
  assert.ok(!err.message.includes(SECRET));
  return err;
}

describe('createTokenVerifier', () => {
  const hs = createTokenVerifier({ secret: SECRET });

  it('HS256: a good token gives member, name, grants and expiresAt, frozen', async () => {
    const exp = nowSec() + 600;
    const token = await make({ sub: 'ann', name: 'Ann', rooms: { lobby: ['read', 'write'], 'team-*': ['read'] }, exp }, enc(SECRET));
    const v = await hs.verify(token);
    assert.deepEqual({ ...v }, { member: 'ann', name: 'Ann', grants: { lobby: ['read', 'write'], 'team-*': ['read'] }, expiresAt: exp * 1000 });
    assert.ok(Object.isFrozen(v) && Object.isFrozen(v.grants) && Object.isFrozen(v.grants.lobby), 'shared through the cache: frozen');
  });

  it('HS384 and HS512 verify with the same secret', async () => {
    for (const alg of ['HS384', 'HS512']) assert.equal((await hs.verify(await make({ sub: `u-${alg}` }, enc(SECRET), alg))).member, `u-${alg}`);
  });

  it('name defaults to sub; no rooms claim gives no room; no exp gives expiresAt undefined', async () => {
    const v = await hs.verify(await make({ sub: 'bob@example.com' }, enc(SECRET)));
    assert.deepEqual({ ...v }, { member: 'bob@example.com', name: 'bob@example.com', grants: {}, expiresAt: undefined });
  });

  it('a "__proto__" room stays an ordinary grant', async () => {
    const token = `${b64url('{"alg":"HS256"}')}.${b64url('{"sub":"ann","rooms":{"__proto__":["read"]}}')}`;
    const v = await hs.verify(`${token}.${createHmac('sha256', SECRET).update(token).digest('base64url')}`);
    assert.deepEqual(Object.keys(v.grants), ['__proto__']);
    assert.equal(Object.getPrototypeOf(v.grants), Object.prototype);
  });

  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA', 'Ed25519'] as const) {
    it(`${alg}: verified with a PEM public key, the algorithm inferred from the key`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const verifier = createTokenVerifier({ publicKeyPem: await exportSPKI(publicKey) });
      const v = await verifier.verify(await make({ sub: 'ann', rooms: { '*': ['read'] }, exp: nowSec() + 60 }, privateKey, alg));
      assert.equal(v.member, 'ann');
      assert.deepEqual(v.grants, { '*': ['read'] });
    });
  }

  it('a PEM key accepts only its own kind of algorithm (ES256 key, ES384 token → UNAUTHORIZED)', async () => {
    const p256 = await generateKeyPair('ES256', { extractable: true });
    const p384 = await generateKeyPair('ES384');
    const verifier = createTokenVerifier({ publicKeyPem: await exportSPKI(p256.publicKey) });
    await refused(verifier, await make({ sub: 'ann' }, p384.privateKey, 'ES384'), 'UNAUTHORIZED', /algorithm "ES384" is not accepted/);
  });

  it('JWKS: the key named by kid verifies; without kid each matching key is tried', async () => {
    const a = await generateKeyPair('RS256', { extractable: true });
    const b = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(a.publicKey)), kid: 'a' }, { ...(await exportJWK(b.publicKey)), kid: 'b' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec' }] };
    const verifier = createTokenVerifier({ jwks });
    assert.equal((await verifier.verify(await make({ sub: 'by-b' }, b.privateKey, 'RS256', { kid: 'b' }))).member, 'by-b');
    assert.equal((await verifier.verify(await make({ sub: 'by-ec' }, ec.privateKey, 'ES256', { kid: 'ec' }))).member, 'by-ec');
    assert.equal((await verifier.verify(await make({ sub: 'no-kid' }, b.privateKey, 'RS256'))).member, 'no-kid');
    // Signed by a key not in the set.
    const stranger = await generateKeyPair('RS256');
    await refused(verifier, await make({ sub: 'x' }, stranger.privateKey, 'RS256', { kid: 'a' }), 'UNAUTHORIZED', /signature does not verify/);
    await refused(verifier, await make({ sub: 'x' }, stranger.privateKey, 'RS256', { kid: 'zz' }), 'UNAUTHORIZED', /no key of the key set/);
    await refused(verifier, await make({ sub: 'x' }, stranger.privateKey, 'RS256'), 'UNAUTHORIZED', /signature does not verify/);
  });

  it('several key sources: a token is valid when one of them verifies it', async () => {
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    const verifier = createTokenVerifier({ secret: SECRET, publicKeyPem: await exportSPKI(ed.publicKey) });
    assert.equal((await verifier.verify(await make({ sub: 'via-secret' }, enc(SECRET)))).member, 'via-secret');
    assert.equal((await verifier.verify(await make({ sub: 'via-pem' }, ed.privateKey, 'EdDSA'))).member, 'via-pem');
    await refused(verifier, await make({ sub: 'x' }, enc('another secret')), 'UNAUTHORIZED', /signature/);
  });

  it('forged: signed with another secret → UNAUTHORIZED', async () => {
    await refused(hs, await make({ sub: 'ann', exp: nowSec() + 60 }, enc('not the secret')), 'UNAUTHORIZED', /signature does not verify/);
  });

  it('forged: a payload swapped under a valid signature → UNAUTHORIZED', async () => {
    const [h, , s] = (await make({ sub: 'ann', rooms: { lobby: ['read'] } }, enc(SECRET))).split('.');
    await refused(hs, `${h}.${b64url(JSON.stringify({ sub: 'ann', rooms: { '*': ['admin'] } }))}.${s}`, 'UNAUTHORIZED');
  });

  it('alg "none" (an unsigned token) → UNAUTHORIZED, whatever the key source', async () => {
    const unsigned = `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ sub: 'ann', rooms: { '*': ['admin'] } }))}.`;
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    for (const verifier of [hs, createTokenVerifier({ publicKeyPem: await exportSPKI(publicKey) }), createTokenVerifier({ jwks: { keys: [await exportJWK(publicKey)] } })]) {
      await refused(verifier, unsigned, 'UNAUTHORIZED', /algorithm "none" is not accepted/);
      await refused(verifier, `${b64url('{"alg":"NONE"}')}.${b64url('{"sub":"ann"}')}.`, 'UNAUTHORIZED', /not accepted/);
    }
  });

  it('algorithm confusion: HS256 "signed" with the public key text → UNAUTHORIZED', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const jwk = await exportJWK(publicKey);
    const token = await make({ sub: 'mallory', rooms: { '*': ['admin'] } }, enc(pem));
    await refused(createTokenVerifier({ publicKeyPem: pem }), token, 'UNAUTHORIZED', /algorithm "HS256" is not accepted/);
    await refused(createTokenVerifier({ jwks: { keys: [jwk] } }), token, 'UNAUTHORIZED', /not accepted/);
    // The modulus as an HMAC key, for a JWKS holder.
    await refused(createTokenVerifier({ jwks: { keys: [jwk] } }), await make({ sub: 'mallory' }, enc(jwk.n!)), 'UNAUTHORIZED', /not accepted/);
  });

  it('expired → TOKEN_EXPIRED (401, close 4005)', async () => {
    const err = await refused(hs, await make({ sub: 'ann', exp: nowSec() - 60 }, enc(SECRET)), 'TOKEN_EXPIRED');
    assert.equal(err.status, 401);
    assert.equal(err.closeCode, 4005);
  });

  it('expired and forged → UNAUTHORIZED: the signature is checked first', async () => {
    await refused(hs, await make({ sub: 'ann', exp: nowSec() - 60 }, enc('not the secret')), 'UNAUTHORIZED');
  });

  it('within the clock tolerance → valid; past it → TOKEN_EXPIRED', async () => {
    const token = await make({ sub: 'ann', exp: nowSec() - 2 }, enc(SECRET));
    assert.equal((await hs.verify(token)).member, 'ann', 'default tolerance 5 s');
    await refused(createTokenVerifier({ secret: SECRET, clockToleranceSec: 0 }), token, 'TOKEN_EXPIRED');
  });

  it('nbf in the future → UNAUTHORIZED; within the tolerance → valid', async () => {
    await refused(hs, await make({ sub: 'ann', nbf: nowSec() + 120 }, enc(SECRET)), 'UNAUTHORIZED', /not valid yet/);
    assert.equal((await hs.verify(await make({ sub: 'ann', nbf: nowSec() + 2 }, enc(SECRET)))).member, 'ann');
  });

  it('issuer and audience: checked when configured', async () => {
    const verifier = createTokenVerifier({ secret: SECRET, issuer: 'https://auth.example', audience: 'switchboard' });
    const good = await make({ sub: 'ann', iss: 'https://auth.example', aud: ['other', 'switchboard'] }, enc(SECRET));
    assert.equal((await verifier.verify(good)).member, 'ann');
    await refused(verifier, await make({ sub: 'ann', iss: 'https://evil.example', aud: 'switchboard' }, enc(SECRET)), 'UNAUTHORIZED', /wrong issuer/);
    await refused(verifier, await make({ sub: 'ann', iss: 'https://auth.example', aud: 'another-app' }, enc(SECRET)), 'UNAUTHORIZED', /wrong audience/);
    await refused(verifier, await make({ sub: 'ann', aud: 'switchboard' }, enc(SECRET)), 'UNAUTHORIZED', /"iss" claim is missing/);
  });

  it('sub: missing or malformed → UNAUTHORIZED naming the claim', async () => {
    await refused(hs, await make({ name: 'Ann' }, enc(SECRET)), 'UNAUTHORIZED', /"sub" claim is missing/);
    for (const sub of ['', 'a b', 'x'.repeat(65), 'ann/../admin', 42]) {
      await refused(hs, await make({ sub } as JWTPayload, enc(SECRET)), 'UNAUTHORIZED', /"sub" claim/);
    }
  });

  it('name: not a string, empty, too long or with control characters → UNAUTHORIZED', async () => {
    for (const name of [42, '', 'n'.repeat(65), 'line\nbreak', 'nul\u0000', 'c1\u0085']) {
      await refused(hs, await make({ sub: 'ann', name }, enc(SECRET)), 'UNAUTHORIZED', /"name" claim/);
    }
  });

  it('rooms: anything but an object of room → rights → UNAUTHORIZED naming the claim', async () => {
    const bad: unknown[] = [
      ['lobby'],
      'lobby',
      null,
      { lobby: 'read' },
      { lobby: ['read', 'fly'] },
      { lobby: [1] },
      { 'bad room': ['read'] },
      { ['x'.repeat(65)]: ['read'] },
      { '': ['read'] },
      { 'lobby/x': ['read'] },
    ];
    for (const rooms of bad) await refused(hs, await make({ sub: 'ann', rooms }, enc(SECRET)), 'UNAUTHORIZED', /"rooms" claim/);
  });

  it('a standard JWT made by hand with node:crypto (HS256 and RS256) is accepted', async () => {
    const exp = nowSec() + 300;
    const signingInput = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }))}.${b64url(JSON.stringify({ sub: 'hand-made', name: 'Hand', rooms: { lobby: ['read', 'write'] }, exp, iat: nowSec() }))}`;
    const hmacToken = `${signingInput}.${createHmac('sha256', SECRET).update(signingInput).digest('base64url')}`;
    assert.deepEqual({ ...(await hs.verify(hmacToken)) }, { member: 'hand-made', name: 'Hand', grants: { lobby: ['read', 'write'] }, expiresAt: exp * 1000 });

    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const rsInput = `${b64url('{"alg":"RS256"}')}.${b64url(JSON.stringify({ sub: 'hand-rsa' }))}`;
    const rsToken = `${rsInput}.${cryptoSign('sha256', Buffer.from(rsInput), createPrivateKey(privateKey)).toString('base64url')}`;
    assert.equal((await createTokenVerifier({ publicKeyPem: publicKey }).verify(rsToken)).member, 'hand-rsa');
  });

  it('malformed, empty or over 8 KiB → UNAUTHORIZED', async () => {
    for (const t of ['', 'abc', 'a.b', 'a.b.c', '...', `${b64url('{"alg":"HS256"}')}.not-json.x`, 'x.y.z.w.v']) await refused(hs, t, 'UNAUTHORIZED');
    const huge = await make({ sub: 'ann', pad: 'p'.repeat(9000) }, enc(SECRET));
    await refused(hs, huge, 'UNAUTHORIZED', /8 KiB/);
  });

  it('the cache: a second call gives the same result without crypto, and still honours exp', async () => {
    let clock = Date.now();
    const verifier = createTokenVerifier({ secret: SECRET, clockToleranceSec: 0, now: () => clock });
    const exp = Math.floor(clock / 1000) + 10;
    const token = await make({ sub: 'ann', exp }, enc(SECRET));
    const first = await verifier.verify(token);
    assert.equal(await verifier.verify(token), first, 'the cached object');
    clock = exp * 1000 - 1;
    assert.equal(await verifier.verify(token), first, 'valid until exp');
    clock = exp * 1000;
    await refused(verifier, token, 'TOKEN_EXPIRED');
    await refused(verifier, token, 'TOKEN_EXPIRED');
  });

  it('the cache is bounded: the least recently used entry goes', async () => {
    const verifier = createTokenVerifier({ secret: SECRET, cacheSize: 2 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => make({ sub }, enc(SECRET))));
    const va = await verifier.verify(a!);
    const vb = await verifier.verify(b!);
    assert.equal(await verifier.verify(a!), va); // a is now the most recent
    await verifier.verify(c!); // evicts b
    assert.equal(await verifier.verify(a!), va);
    assert.notEqual(await verifier.verify(b!), vb, 'b was verified again');
  });

  it('construction: no key source, an empty secret, a private key, a short RSA key, a bad key set → Error', async () => {
    assert.throws(() => createTokenVerifier({}), /at least one of secret, publicKeyPem or jwks/);
    assert.throws(() => createTokenVerifier({ secret: '' }), /^Error: secret:/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    assert.throws(() => createTokenVerifier({ publicKeyPem: rsa.privateKey }), /publicKeyPem: .*private key/);
    assert.throws(() => createTokenVerifier({ publicKeyPem: 'not a pem' }), /publicKeyPem: not a PEM public key/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    assert.throws(() => createTokenVerifier({ publicKeyPem: short.publicKey }), /1024 bits is too short/);
    assert.throws(() => createTokenVerifier({ jwks: { keys: [] } }), /jwks: the key set has no keys/);
    assert.throws(() => createTokenVerifier({ jwks: [] }), /jwks: not a JSON Web Key Set/);
    assert.throws(() => createTokenVerifier({ jwks: { keys: [{ kty: 'oct', k: b64url(SECRET) }] } }), /jwks: keys\[0\] is a private or secret key/);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    assert.throws(() => createTokenVerifier({ jwks: { keys: [privateJwk] } }), /jwks: keys\[0\] is a private or secret key/);
    assert.throws(() => createTokenVerifier({ secret: SECRET, clockToleranceSec: -1 }), /clockToleranceSec/);
  });
});

describe('loadTokenVerifierFromFiles', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-token-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('undefined when no key is configured (empty strings count as unset)', () => {
    assert.equal(loadTokenVerifierFromFiles({}), undefined);
    assert.equal(loadTokenVerifierFromFiles({ secret: '', publicKeyFile: '', jwksFile: '', issuer: 'x' }), undefined);
  });

  it('reads a PEM file and a JWKS file; issuer and audience apply', async () => {
    const ec = await generateKeyPair('ES256', { extractable: true });
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const verifier = loadTokenVerifierFromFiles({
      publicKeyFile: file('ec.pem', await exportSPKI(ec.publicKey)),
      jwksFile: file('jwks.json', JSON.stringify({ keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'r1' }] })),
      issuer: 'me',
      audience: 'switchboard',
    });
    assert.ok(verifier);
    const claims = { sub: 'ann', iss: 'me', aud: 'switchboard' };
    assert.equal((await verifier.verify(await make(claims, ec.privateKey, 'ES256'))).member, 'ann');
    assert.equal((await verifier.verify(await make(claims, rsa.privateKey, 'RS256', { kid: 'r1' }))).member, 'ann');
    await refused(verifier, await make({ ...claims, iss: 'other' }, ec.privateKey, 'ES256'), 'UNAUTHORIZED', /wrong issuer/);
  });

  it('an unreadable file, a bad PEM, bad JSON, not a key set → an Error naming the option and the file', async () => {
    const missing = path.join(dir, 'missing.pem');
    assert.throws(() => loadTokenVerifierFromFiles({ publicKeyFile: missing }), (e: Error) => e.message === `cannot read --jwt-public-key file ${missing}: no such file`);
    assert.throws(() => loadTokenVerifierFromFiles({ jwksFile: path.join(dir, 'missing.json') }), /^Error: cannot read --jwks file .*missing\.json: no such file/);
    assert.throws(() => loadTokenVerifierFromFiles({ publicKeyFile: file('bad.pem', '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n') }), /^Error: --jwt-public-key file .*bad\.pem: not a PEM public key$/);
    assert.throws(() => loadTokenVerifierFromFiles({ jwksFile: file('bad.json', '{"keys": [') }), /^Error: --jwks file .*bad\.json: not JSON$/);
    assert.throws(() => loadTokenVerifierFromFiles({ jwksFile: file('notset.json', '{"kty": "RSA"}') }), /^Error: --jwks file .*notset\.json: not a JSON Web Key Set/);
  });
});

describe('requestToken', () => {
  const request = (headers: Record<string, string>): IncomingMessage => {
    const req = new IncomingMessage(new Socket());
    req.headers = headers;
    return req;
  };
  const url = (query = ''): URL => new URL(`http://localhost/api/rooms/lobby/events${query}`);

  it('Authorization: Bearer first, then ?token=, then the sb_token cookie', () => {
    const all = { authorization: 'Bearer from-header', cookie: `a=1; ${TOKEN_COOKIE}=from-cookie` };
    assert.deepEqual(requestToken(request(all), url('?token=from-query')), { token: 'from-header', via: 'header' });
    assert.deepEqual(requestToken(request({ cookie: all.cookie }), url('?token=from-query')), { token: 'from-query', via: 'query' });
    assert.deepEqual(requestToken(request({ cookie: all.cookie }), url()), { token: 'from-cookie', via: 'cookie' });
    assert.deepEqual(requestToken(request({ authorization: 'bearer   lower-case ' }), url()), { token: 'lower-case', via: 'header' });
  });

  it('none, empty ones, or another scheme → the next place, then undefined', () => {
    assert.equal(requestToken(request({}), url()), undefined);
    assert.equal(requestToken(request({ authorization: 'Bearer ', cookie: `${TOKEN_COOKIE}=` }), url('?token=')), undefined);
    assert.deepEqual(requestToken(request({ authorization: 'Basic dXNlcjpwYXNz' }), url('?token=q')), { token: 'q', via: 'query' });
    assert.equal(requestToken(request({ cookie: 'other=1' }), url()), undefined);
  });
});

describe('mintToken', () => {
  it('reads the clock once: `exp - iat` is the lifetime asked, also a millisecond before a second turns', async () => {
    // `switchboard token --ttl 90s` once made exp - iat = 91 in CI: iat and exp came from two
    // readings of the clock on either side of a second's turn.
    const nowMs = 1_800_000_000_999;
    const token = await mintToken(SECRET, { sub: 'ann', ttlSec: 90 }, nowMs);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as JWTPayload;
    assert.equal(payload.iat, 1_800_000_000);
    assert.equal(payload.exp, 1_800_000_090);
  });
});
