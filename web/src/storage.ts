import type { TransportName } from 'switchboard-client';
import { TRANSPORTS } from 'switchboard-client';

/**
 * The app's settings and read positions, kept in localStorage under `switchboard.*`.
 * Every read tolerates a missing, blocked (private mode) or corrupt store: it falls back to the
 * default, and writes that fail are dropped.
 */

const PREFIX = 'switchboard.';

function read(key: string): string | undefined {
  try {
    return localStorage.getItem(PREFIX + key) ?? undefined;
  } catch {
    return undefined;
  }
}

function write(key: string, value: string | undefined): void {
  try {
    if (value === undefined) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, value);
  } catch {
    // Storage full or blocked: the setting lasts for this page only.
  }
}

/** Polling intervals offered by the "Polling interval" control, in ms. */
export const POLL_INTERVALS = [250, 500, 1000, 2000, 5000, 10_000] as const;
export const DEFAULT_POLL_INTERVAL = 2000;

export const storage = {
  /** Display name; undefined until chosen on the first visit. */
  get name(): string | undefined {
    return read('name');
  },
  set name(value: string | undefined) {
    write('name', value);
  },

  /**
   * The access token of a server that needs one (pasted, or from dev login), with where it came
   * from: a dev-login token is renewed by logging in again. Undefined on an open server.
   */
  get token(): string | undefined {
    return read('token');
  },
  set token(value: string | undefined) {
    write('token', value);
  },
  get tokenSource(): 'dev' | 'pasted' | undefined {
    const value = read('tokenSource');
    return value === 'dev' || value === 'pasted' ? value : undefined;
  },
  set tokenSource(value: 'dev' | 'pasted' | undefined) {
    write('tokenSource', value);
  },

  /** Stable member id of this browser: one person across reconnects, rooms and transports. */
  get member(): string {
    let member = read('member');
    if (!member || !/^[A-Za-z0-9_:.-]{1,64}$/.test(member)) {
      member = `m-${randomToken(12)}`;
      write('member', member);
    }
    return member;
  },

  get transport(): TransportName {
    const value = read('transport');
    return TRANSPORTS.find((t) => t === value) ?? 'websocket';
  },
  set transport(value: TransportName) {
    write('transport', value);
  },

  get pollIntervalMs(): number {
    const value = Number(read('pollIntervalMs'));
    return POLL_INTERVALS.find((ms) => ms === value) ?? DEFAULT_POLL_INTERVAL;
  },
  set pollIntervalMs(value: number) {
    write('pollIntervalMs', String(value));
  },

  /**
   * Compare's room of its own in this browser, `compare-<random>`: one per browser rather than
   * per visit, so the rooms it makes (never deleted but by an admin) do not pile up. The chat's
   * room list leaves them out (isCompareRoom).
   */
  get compareRoom(): string {
    let room = read('compareRoom');
    if (!room || !isCompareRoom(room)) {
      room = `compare-${randomToken(8)}`;
      write('compareRoom', room);
    }
    return room;
  },

  /** Desktop notifications of mentions asked for (the browser's permission is asked for too: see MentionNotifier). */
  get notifyMentions(): boolean {
    return read('notify') === 'mentions';
  },
  set notifyMentions(value: boolean) {
    write('notify', value ? 'mentions' : undefined);
  },

  get room(): string | undefined {
    return read('room');
  },
  set room(value: string | undefined) {
    write('room', value);
  },
};

/** A random id of `length` characters from [a-z0-9] (for member and client message ids). */
export function randomToken(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** A room Compare made for itself in some browser (storage.compareRoom): not one to chat in. */
export function isCompareRoom(name: string): boolean {
  return /^compare-[a-z0-9]{8}$/.test(name);
}
