/**
 * Verifies the JSON Web Tokens that identify users: signature (HMAC secret, PEM public key or a
 * JSON Web Key Set), `iss`/`aud`/`exp`/`nbf`, then Switchboard's own claims (`sub`, `name`,
 * `rooms`). Any library that makes a standard JWS-signed JWT can issue them.
 *
 * Errors are SwitchboardErrors with short, fixed details: never the library's message, a stack
 * or key material, since they go back to the client.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { MAX_NAME_LENGTH } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import { RIGHTS, type Right, type RoomGrants } from './principal.js';

/** `sub`: the member id. */
export const MEMBER_ID_PATTERN = /^[A-Za-z0-9_:.@-]{1,64}$/;
/** A key of the `rooms` claim: a room name, or a pattern where `*` stands for any run of characters. */
export const GRANT_KEY_PATTERN = /^[A-Za-z0-9_.*-]{1,64}$/;
/** Longer tokens are refused before any parsing: a real one is a few hundred bytes. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const RSA_PSS_ALGORITHMS = ['PS256', 'PS384', 'PS512'];
const EC_ALGORITHMS: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const ED25519_ALGORITHMS = ['EdDSA', 'Ed25519'];
/** What a key set may verify: public-key algorithms only, so no HMAC confusion with a public JWK. */
const JWKS_ALGORITHMS = [...RSA_ALGORITHMS, 'ES256', 'ES384', 'ES512', ...ED25519_ALGORITHMS];

export interface TokenVerifierOptions {
  /** Shared secret for HS256, HS384 and HS512. */
  secret?: string;
  /** PEM public key (SPKI; a certificate works too). RSA → RS256-512 and PS256-512, EC → ES256/384/512 by curve, Ed25519 → EdDSA. */
  publicKeyPem?: string;
  /** A JSON Web Key Set (`{"keys": [...]}`) of public keys, as parsed from its file. */
  jwks?: object;
  /** When set, the `iss` claim must equal it. */
  issuer?: string;
  /** When set, the `aud` claim must be or contain it. */
  audience?: string;
  /** Slack allowed on `exp` and `nbf`, in seconds (default 5): clocks drift. */
  clockToleranceSec?: number;
  /** Successful verifications kept (default 10,000). */
  cacheSize?: number;
  /** The clock, epoch ms (default Date.now); for tests. */
  now?: () => number;
}

/** What a valid token says. Frozen: one result may be handed to many callers from the cache. */
export interface VerifiedToken {
  readonly member: string;
  readonly name: string;
  readonly grants: RoomGrants;
  /** The `exp` claim in epoch ms; undefined when the token has no `exp` (it never expires). */
  readonly expiresAt: number | undefined;
}

export interface TokenVerifier {
  /**
   * Resolves with what the token says when it is valid now. Rejects with
   * `SwitchboardError('TOKEN_EXPIRED')` when its `exp` has passed (beyond the clock tolerance),
   * and with `SwitchboardError('UNAUTHORIZED', detail)` for anything else: too long, malformed,
   * `alg: none` or an algorithm the configured keys do not use, a bad signature, a wrong issuer or
   * audience, not valid yet, or a missing or malformed `sub`, `name` or `rooms` claim.
   *
   * `guard`, when given, is told of the verifications that need cryptography (a token not known
   * from a cache): `before` first (it may throw, to refuse the token unverified), `failed` after
   * one that failed. The server passes one that bounds the failed verifications of an address
   * (`--auth-failure-rate`); a verifier of your own may honour it too.
   */
  verify(token: string, guard?: CryptoGuard): Promise<VerifiedToken>;
}

/** See TokenVerifier.verify. */
export interface CryptoGuard {
  /** Called before a verification that needs cryptography; throws to refuse the token without it. */
  before(): void;
  /** Called after such a verification failed (a bad signature, expired, wrong claims). */
  failed(): void;
}

/** One place a key comes from, with the only algorithms it may verify. */
interface KeySource {
  readonly key: KeyObject | Uint8Array | JWTVerifyGetKey;
  readonly algorithms: readonly string[];
}

/**
 * A verifier over every key source given: a token is valid when one of them verifies it.
 * Throws a plain Error, naming the option, when no key source is given or one is unusable
 * (empty secret, not a PEM public key, an RSA key under 2048 bits, a curve jose cannot verify,
 * not a key set of public keys), or when clockToleranceSec or cacheSize is not a number ≥ 0 / > 0.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const sources: KeySource[] = [];
  if (options.secret !== undefined) sources.push(secretSource(options.secret, 'secret'));
  if (options.publicKeyPem !== undefined) sources.push(publicKeySource(options.publicKeyPem, 'publicKeyPem'));
  if (options.jwks !== undefined) sources.push(jwksSource(options.jwks, 'jwks'));
  if (sources.length === 0) throw new Error('token verifier: give at least one of secret, publicKeyPem or jwks');
  const toleranceSec = options.clockToleranceSec ?? 5;
  if (!Number.isFinite(toleranceSec) || toleranceSec < 0) throw new Error('clockToleranceSec: must be a number of seconds ≥ 0');
  const cacheSize = options.cacheSize ?? 10_000;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) throw new Error('cacheSize: must be a whole number > 0');
  const now = options.now ?? Date.now;
  const accepted = new Set(sources.flatMap((s) => s.algorithms));

  // Keyed by a digest of the token, not the token: 10,000 tokens of up to 8 KiB would hold 80 MB.
  // A Map iterates in insertion order, so re-inserting on a hit makes the first key the least recent.
  const cache = new Map<string, VerifiedToken>();

  async function verifyWithCrypto(token: string, guard: CryptoGuard | undefined): Promise<VerifiedToken> {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new SwitchboardError('UNAUTHORIZED', 'malformed token');
    }
    // Checked before any key is touched: refuses `none` and algorithm confusion (an HMAC token
    // "signed" with the public key's text) whatever the key sources would make of them.
    if (typeof alg !== 'string' || !accepted.has(alg)) {
      throw new SwitchboardError('UNAUTHORIZED', `algorithm ${typeof alg === 'string' && /^[A-Za-z0-9]{1,16}$/.test(alg) ? `"${alg}" ` : ''}is not accepted`);
    }
    guard?.before();
    try {
      return await verifyWithSources(token, alg);
    } catch (err) {
      guard?.failed();
      throw err;
    }
  }

  async function verifyWithSources(token: string, alg: string): Promise<VerifiedToken> {
    const failures: unknown[] = [];
    for (const source of sources) {
      if (!source.algorithms.includes(alg)) continue;
      const verifyOptions: JWTVerifyOptions = {
        algorithms: [...source.algorithms] as JWTVerifyOptions['algorithms'],
        clockTolerance: toleranceSec,
        currentDate: new Date(now()),
        ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
        ...(options.audience !== undefined ? { audience: options.audience } : {}),
      };
      try {
        return claimsOf(await verifyWithSource(token, source, verifyOptions));
      } catch (err) {
        if (err instanceof SwitchboardError) throw err; // the signature held: the claims are wrong
        failures.push(err);
      }
    }
    throw mapFailures(failures);
  }

  return {
    async verify(token: string, guard?: CryptoGuard): Promise<VerifiedToken> {
      if (typeof token !== 'string' || token === '') throw new SwitchboardError('UNAUTHORIZED', 'no token');
      if (token.length > MAX_TOKEN_LENGTH) throw new SwitchboardError('UNAUTHORIZED', 'token longer than 8 KiB');
      const key = createHash('sha256').update(token).digest('base64url');
      const hit = cache.get(key);
      if (hit) {
        // The same boundary as jose's: expired once now ≥ exp + tolerance.
        if (hit.expiresAt !== undefined && now() >= hit.expiresAt + toleranceSec * 1000) {
          cache.delete(key);
          throw new SwitchboardError('TOKEN_EXPIRED');
        }
        cache.delete(key);
        cache.set(key, hit);
        return hit;
      }
      const verified = await verifyWithCrypto(token, guard);
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
      cache.set(key, verified);
      return verified;
    },
  };
}

export interface TokenVerifierFiles {
  secret?: string | undefined;
  /** Path of a PEM public key. */
  publicKeyFile?: string | undefined;
  /** Path of a JSON Web Key Set. */
  jwksFile?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  clockToleranceSec?: number | undefined;
}

/**
 * The verifier a server configuration asks for, its files read now (synchronously: this runs at
 * startup). Returns undefined when no key is configured (empty strings count as not set). Throws
 * an Error naming the option (as `serve` spells it: `--jwks`, `--jwt-public-key`) and the problem: an unreadable file, no PEM public key in it, not
 * JSON, not a key set of public keys.
 */
export function loadTokenVerifierFromFiles(files: TokenVerifierFiles): TokenVerifier | undefined {
  const sources: TokenVerifierOptions = {};
  if (files.secret) sources.secret = files.secret;
  if (files.publicKeyFile) {
    const label = `--jwt-public-key file ${files.publicKeyFile}`;
    sources.publicKeyPem = readText(files.publicKeyFile, label);
    publicKeySource(sources.publicKeyPem, label); // to fail here, naming the file
  }
  if (files.jwksFile) {
    const label = `--jwks file ${files.jwksFile}`;
    const text = readText(files.jwksFile, label);
    try {
      sources.jwks = JSON.parse(text) as object;
    } catch {
      throw new Error(`${label}: not JSON`);
    }
    jwksSource(sources.jwks, label);
  }
  if (sources.secret === undefined && sources.publicKeyPem === undefined && sources.jwks === undefined) return undefined;
  return createTokenVerifier({
    ...sources,
    ...(files.issuer ? { issuer: files.issuer } : {}),
    ...(files.audience ? { audience: files.audience } : {}),
    ...(files.clockToleranceSec !== undefined ? { clockToleranceSec: files.clockToleranceSec } : {}),
  });
}

function readText(path: string, label: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'a folder, not a file' : (e.code ?? e.message);
    throw new Error(`cannot read ${label}: ${why}`);
  }
}

function secretSource(secret: string, label: string): KeySource {
  if (typeof secret !== 'string' || secret === '') throw new Error(`${label}: must be a non-empty string`);
  return { key: new TextEncoder().encode(secret), algorithms: HMAC_ALGORITHMS };
}

/** The algorithms are fixed by the key's type, never by the token's header. */
function publicKeySource(pem: string, label: string): KeySource {
  // createPublicKey would quietly derive the public half: a private key has no business on a verifier.
  if (typeof pem !== 'string' || /PRIVATE KEY-----/.test(pem)) throw new Error(`${label}: not a PEM public key (this is a private key: give its public half)`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error(`${label}: not a PEM public key`);
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      // jose refuses shorter keys at each verification; better to say so once, at startup.
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new Error(`${label}: an RSA key of ${bits} bits is too short (2048 at least)`);
      return { key, algorithms: key.asymmetricKeyType === 'rsa' ? RSA_ALGORITHMS : RSA_PSS_ALGORITHMS };
    }
    case 'ec': {
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (!alg) throw new Error(`${label}: unsupported curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'} (use P-256, P-384 or P-521)`);
      return { key, algorithms: [alg] };
    }
    case 'ed25519':
      return { key, algorithms: ED25519_ALGORITHMS };
    default:
      throw new Error(`${label}: unsupported key type ${key.asymmetricKeyType ?? '?'} (use RSA, EC or Ed25519)`);
  }
}

function jwksSource(jwks: unknown, label: string): KeySource {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(keys)) throw new Error(`${label}: not a JSON Web Key Set ({"keys": [...]})`);
  if (keys.length === 0) throw new Error(`${label}: the key set has no keys`);
  keys.forEach((jwk: unknown, i) => {
    const k = jwk as Record<string, unknown> | null;
    if (typeof k !== 'object' || k === null || typeof k.kty !== 'string') throw new Error(`${label}: keys[${i}] is not a JSON Web Key`);
    // jose would refuse these only when a token names them; say it at startup, and never let a
    // symmetric key in through the key set.
    if (k.kty === 'oct' || k.d !== undefined || k.priv !== undefined) throw new Error(`${label}: keys[${i}] is a private or secret key: a key set holds public keys only`);
  });
  try {
    return { key: createLocalJWKSet(jwks as JSONWebKeySet), algorithms: JWKS_ALGORITHMS };
  } catch {
    throw new Error(`${label}: not a JSON Web Key Set ({"keys": [...]})`);
  }
}

/** jose's verification with one source; when several keys of a set match (no `kid`), each is tried. */
async function verifyWithSource(token: string, source: KeySource, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, source.key, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    let last: unknown = err;
    for await (const key of err) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        // Another key may be the one; any other failure (expired, wrong issuer) is the answer.
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        last = inner;
      }
    }
    throw last;
  }
}

/**
 * The error for a token no source accepted. A failure past the signature (expired, a claim) means
 * a source did verify it, so that one is the answer; otherwise the first failure.
 */
function mapFailures(failures: readonly unknown[]): SwitchboardError {
  if (failures.some((f) => f instanceof errors.JWTExpired)) return new SwitchboardError('TOKEN_EXPIRED');
  const claim = failures.find((f) => f instanceof errors.JWTClaimValidationFailed) as errors.JWTClaimValidationFailed | undefined;
  if (claim) {
    if (claim.reason === 'missing') return new SwitchboardError('UNAUTHORIZED', `"${safeClaimName(claim.claim)}" claim is missing`);
    if (claim.claim === 'iss') return new SwitchboardError('UNAUTHORIZED', 'wrong issuer');
    if (claim.claim === 'aud') return new SwitchboardError('UNAUTHORIZED', 'wrong audience');
    if (claim.claim === 'nbf' && claim.reason === 'check_failed') return new SwitchboardError('UNAUTHORIZED', 'token not valid yet (nbf)');
    return new SwitchboardError('UNAUTHORIZED', `"${safeClaimName(claim.claim)}" claim is invalid`);
  }
  const first = failures[0];
  if (first instanceof errors.JWSSignatureVerificationFailed) return new SwitchboardError('UNAUTHORIZED', 'signature does not verify');
  if (first instanceof errors.JWKSNoMatchingKey) return new SwitchboardError('UNAUTHORIZED', 'no key of the key set matches the token');
  if (first instanceof errors.JOSEAlgNotAllowed || first instanceof errors.JOSENotSupported) return new SwitchboardError('UNAUTHORIZED', 'algorithm is not accepted');
  if (first instanceof errors.JWSInvalid || first instanceof errors.JWTInvalid) return new SwitchboardError('UNAUTHORIZED', 'malformed token');
  // A TypeError from a key that does not fit, or anything unforeseen: nothing of it goes out.
  return new SwitchboardError('UNAUTHORIZED', 'the token cannot be verified with the configured keys');
}

function safeClaimName(name: string): string {
  return /^[A-Za-z0-9_]{1,16}$/.test(name) ? name : 'a';
}

/** Switchboard's claims of a verified payload; UNAUTHORIZED with the claim's name when one is malformed. */
function claimsOf(payload: JWTPayload): VerifiedToken {
  const { sub } = payload;
  if (sub === undefined) throw new SwitchboardError('UNAUTHORIZED', '"sub" claim is missing');
  if (typeof sub !== 'string' || !MEMBER_ID_PATTERN.test(sub)) throw new SwitchboardError('UNAUTHORIZED', '"sub" claim must be 1-64 characters of A-Z a-z 0-9 _ : . @ -');
  const name = payload.name;
  if (name !== undefined && (typeof name !== 'string' || name.length < 1 || name.length > MAX_NAME_LENGTH || /\p{Cc}/u.test(name))) {
    throw new SwitchboardError('UNAUTHORIZED', `"name" claim must be 1-${MAX_NAME_LENGTH} characters without control characters`);
  }
  return Object.freeze({
    member: sub,
    name: name ?? sub,
    grants: grantsOf(payload.rooms),
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  });
}

function grantsOf(rooms: unknown): RoomGrants {
  if (rooms === undefined) return Object.freeze({});
  if (typeof rooms !== 'object' || rooms === null || Array.isArray(rooms)) throw new SwitchboardError('UNAUTHORIZED', '"rooms" claim must be an object of room → rights');
  const entries: [string, readonly Right[]][] = [];
  for (const [key, rights] of Object.entries(rooms)) {
    if (!GRANT_KEY_PATTERN.test(key)) throw new SwitchboardError('UNAUTHORIZED', `"rooms" claim: ${JSON.stringify(key.slice(0, 64))} is not a room name or pattern (1-64 of A-Z a-z 0-9 _ . - *)`);
    if (!Array.isArray(rights) || !rights.every((r) => (RIGHTS as readonly unknown[]).includes(r))) {
      throw new SwitchboardError('UNAUTHORIZED', `"rooms" claim: the rights of "${key}" must be a list of ${RIGHTS.join(', ')}`);
    }
    entries.push([key, Object.freeze([...new Set(rights as Right[])])]);
  }
  // fromEntries defines own properties: a "__proto__" key (a valid room name) stays a key.
  return Object.freeze(Object.fromEntries(entries));
}
