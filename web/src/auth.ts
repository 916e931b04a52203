import { CLIENT_ID_PATTERN, MAX_NAME_LENGTH } from 'switchboard-client';
import { SwitchboardError } from 'switchboard-client';
import { apiRequest } from './api.js';
import { storage } from './storage.js';

/** `GET /api/auth`: what a client must know before it connects. */
export interface AuthInfo {
  auth: 'open' | 'token';
  guests: 'none' | 'read' | 'write';
  guestRooms: string[];
  devLogin: boolean;
  /** The server's largest message text, UTF-8 bytes (`--max-message-bytes`): the message box refuses a longer one before sending. */
  maxMessageBytes: number;
}

/** Who the app is on this server. */
export interface Identity {
  /** open: no token needed (the name is the user's); user: a token's; guest: a token server without a token. */
  kind: 'open' | 'user' | 'guest';
  name: string;
  member: string;
}

interface Credential {
  token: string;
  /** A dev-login token is renewed by logging in again; a pasted one cannot be. */
  source: 'dev' | 'pasted';
  name: string;
  member: string;
  /** Epoch ms, when the token says. */
  expiresAt: number | undefined;
  /** The token's `rooms` claim (room or pattern → rights), when it could be read. */
  rooms: Record<string, string[]> | undefined;
}

/** The server's default `--max-message-bytes`, for a server that does not say its own. */
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

const OPEN_INFO: AuthInfo = Object.freeze({ auth: 'open', guests: 'write', guestRooms: ['*'], devLogin: false, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES });

/** A dev-login token is renewed this long before it ends (or after 90 % of a shorter life). */
const RENEW_BEFORE_MS = 5 * 60_000;
/** After a failed renewal, try again this much later (while the token lasts). */
const RENEW_RETRY_MS = 30_000;
/** A stored token with less than this left is not used. */
const MIN_LEFT_MS = 30_000;
/** setTimeout holds at most 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The app's credentials. On an open server (`auth: 'open'`) there are none and nothing changes.
 * On a token server the app holds one token (stored next to the name, under `switchboard.token`)
 * that every connection and API call carries, or is a guest without one. Listeners hear of every
 * change (a new token, a renewal, another user, guest).
 */
export class Auth {
  info: AuthInfo = OPEN_INFO;
  private credential: Credential | undefined;
  private renewTimer: number | undefined;
  private renewing: Promise<void> | undefined;
  private readonly listeners = new Set<() => void>();

  /** The server needs a token (or lets guests in). */
  get required(): boolean {
    return this.info.auth === 'token';
  }

  /** The token to send, if any (never on an open server). */
  get token(): string | undefined {
    return this.required ? this.credential?.token : undefined;
  }

  get isGuest(): boolean {
    return this.required && !this.credential;
  }

  /** A new token can be had by dev login. */
  get canDevLogin(): boolean {
    return this.required && this.info.devLogin;
  }

  /** The current token came from dev login (renaming logs in again under the new name). */
  get viaDevLogin(): boolean {
    return this.credential?.source === 'dev';
  }

  get expiresAt(): number | undefined {
    return this.credential?.expiresAt;
  }

  /**
   * Whether these credentials may write in `room`, as far as the app can tell (the token's
   * `rooms` claim, the guest rooms): false only when surely not. The server decides; this only
   * spares requests that would be refused (a refused typing notice ends the subscription).
   */
  mayWrite(room: string): boolean {
    if (!this.required) return true;
    const c = this.credential;
    if (!c) return this.info.guests === 'write' && this.info.guestRooms.some((p) => roomMatches(p, room));
    if (!c.rooms) return true;
    return Object.entries(c.rooms).some(([pattern, rights]) => rights.includes('write') && roomMatches(pattern, room));
  }

  /**
   * Whether these credentials administer `room` (the token's `admin` right there), as far as the
   * app can tell; on an open server nobody does (the API key is needed).
   */
  mayAdmin(room: string): boolean {
    const rooms = this.required ? this.credential?.rooms : undefined;
    return rooms !== undefined && Object.entries(rooms).some(([pattern, rights]) => rights.includes('admin') && roomMatches(pattern, room));
  }

  /** The token's room patterns with the `admin` right (none without a token). */
  adminPatterns(): string[] {
    const rooms = this.required ? this.credential?.rooms : undefined;
    return rooms === undefined ? [] : Object.entries(rooms).filter(([, rights]) => rights.includes('admin')).map(([pattern]) => pattern);
  }

  identity(): Identity {
    if (!this.required) return { kind: 'open', name: storage.name ?? '', member: storage.member };
    if (this.credential) return { kind: 'user', name: this.credential.name, member: this.credential.member };
    return { kind: 'guest', name: 'Guest', member: storage.member };
  }

  /** Asks the server (`GET /api/auth`). A server that does not answer it is taken as open, as before. */
  async load(): Promise<AuthInfo> {
    try {
      const body = await apiRequest<Partial<AuthInfo>>('GET', '/api/auth');
      const max = body?.maxMessageBytes;
      const maxMessageBytes = typeof max === 'number' && Number.isSafeInteger(max) && max > 0 ? max : DEFAULT_MAX_MESSAGE_BYTES;
      if (body && body.auth === 'token') {
        this.info = {
          auth: 'token',
          guests: body.guests === 'read' || body.guests === 'write' ? body.guests : 'none',
          guestRooms: Array.isArray(body.guestRooms) ? body.guestRooms.filter((r): r is string => typeof r === 'string') : [],
          devLogin: body.devLogin === true,
          maxMessageBytes,
        };
      } else this.info = { ...OPEN_INFO, maxMessageBytes };
    } catch {
      // An older server, or none reachable now: open. A token server then refuses the
      // connection with UNAUTHORIZED, and the chat offers to give a token (which asks again).
    }
    return this.info;
  }

  /** Takes the stored token: 'ok', 'expired' (dropped) or 'none'. */
  restore(): 'ok' | 'expired' | 'none' {
    const token = storage.token;
    if (!token) return 'none';
    const claims = decodeClaims(token);
    const expiresAt = claims?.exp !== undefined ? claims.exp * 1000 : undefined;
    if (expiresAt !== undefined && expiresAt - Date.now() < MIN_LEFT_MS) {
      storage.token = undefined;
      storage.tokenSource = undefined;
      return 'expired';
    }
    this.set({ token, source: storage.tokenSource ?? 'pasted', ...identityOf(claims), expiresAt, rooms: claims?.rooms });
    return 'ok';
  }

  /** `POST /api/dev/login` under `name`: a token for that name (member `dev-<name>`). */
  async devLogin(name: string): Promise<void> {
    const answer = await apiRequest<{ token: string; member: string; name: string; expiresAt?: number }>('POST', '/api/dev/login', { body: { name } });
    const claims = decodeClaims(answer.token);
    const expiresAt = typeof answer.expiresAt === 'number' ? answer.expiresAt : claims?.exp !== undefined ? claims.exp * 1000 : undefined;
    this.set({ token: answer.token, source: 'dev', name: answer.name, member: answer.member, expiresAt, rooms: claims?.rooms });
  }

  /** Asks the server whether it takes `token` (one request); throws its UNAUTHORIZED or TOKEN_EXPIRED. */
  async check(token: string): Promise<void> {
    await apiRequest('GET', '/api/rooms', { token });
  }

  /** Uses a token the user gave (check it first). */
  useToken(token: string): void {
    const claims = decodeClaims(token);
    this.set({ token, source: 'pasted', ...identityOf(claims), expiresAt: claims?.exp !== undefined ? claims.exp * 1000 : undefined, rooms: claims?.rooms });
  }

  /** Goes on without a token, as a guest (where the server lets guests in). */
  useGuest(): void {
    window.clearTimeout(this.renewTimer);
    this.credential = undefined;
    storage.token = undefined;
    storage.tokenSource = undefined;
    this.notify();
  }

  /**
   * A new token by dev login under the same name (the token is about to end, or the server said
   * TOKEN_EXPIRED). Calls made while one runs share it. Rejects when dev login is off.
   */
  renew(): Promise<void> {
    if (!this.canDevLogin) return Promise.reject(new SwitchboardError('TOKEN_EXPIRED'));
    this.renewing ??= this.devLogin(this.credential?.name ?? storage.name ?? 'guest').finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  /** Calls `listener` after every change of credentials; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(credential: Credential): void {
    this.credential = credential;
    storage.token = credential.token;
    storage.tokenSource = credential.source;
    if (credential.source === 'dev') storage.name = credential.name;
    this.scheduleRenewal();
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** A dev-login token is renewed shortly before it ends (a pasted one runs out: the server says so). */
  private scheduleRenewal(delayMs?: number): void {
    window.clearTimeout(this.renewTimer);
    const c = this.credential;
    if (!c || c.source !== 'dev' || !this.info.devLogin || c.expiresAt === undefined) return;
    const left = c.expiresAt - Date.now();
    const delay = delayMs ?? Math.max(1000, left - Math.min(RENEW_BEFORE_MS, left * 0.1));
    this.renewTimer = window.setTimeout(() => {
      if (this.credential !== c) return;
      this.renew().catch(() => {
        if (this.credential === c && Date.now() < (c.expiresAt ?? 0)) this.scheduleRenewal(RENEW_RETRY_MS);
      });
    }, Math.min(delay, MAX_TIMER_MS));
  }
}

export const auth = new Auth();

/** What a token says of itself (unverified: for display; the server checks it). */
export function decodeClaims(token: string): { sub?: string; name?: string; exp?: number; rooms?: Record<string, string[]> } | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const payload: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (!payload || typeof payload !== 'object') return undefined;
    const { sub, name, exp, rooms } = payload as Record<string, unknown>;
    return {
      ...(typeof sub === 'string' ? { sub } : {}),
      ...(typeof name === 'string' ? { name } : {}),
      ...(typeof exp === 'number' ? { exp } : {}),
      // No `rooms` claim: no rights at all.
      rooms: roomsOf(rooms),
    };
  } catch {
    return undefined;
  }
}

function roomsOf(value: unknown): Record<string, string[]> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, string[]> = {};
  for (const [pattern, rights] of Object.entries(value)) if (Array.isArray(rights)) out[pattern] = rights.filter((r): r is string => typeof r === 'string');
  return out;
}

/** True when `room` matches `pattern` (`*` stands for any run of characters), as the server matches grants. */
export function roomMatches(pattern: string, room: string): boolean {
  if (!pattern.includes('*')) return pattern === room;
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(room);
}

/** The name and member a token gives (the server's rule: the name claim, else `sub`). */
function identityOf(claims: { sub?: string; name?: string } | undefined): { name: string; member: string } {
  const member = claims?.sub ?? 'unknown';
  return { name: claims?.name ?? claims?.sub ?? 'you', member };
}

/**
 * Name and member as the SDK accepts them. With a token the server takes both from the token and
 * ignores these; they only have to pass the SDK's checks.
 */
export function claimsForSdk(name: string, member: string): { name: string; member: string } {
  const okName = name.length >= 1 && name.length <= MAX_NAME_LENGTH && !/\p{Cc}/u.test(name) && name.isWellFormed();
  return { name: okName ? name : 'guest', member: CLIENT_ID_PATTERN.test(member) ? member : storage.member };
}
