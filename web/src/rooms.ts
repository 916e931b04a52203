import type { PresencePage, RoomInfo, UnreadCount } from 'switchboard-client';
import { apiRequest } from './api.js';
import { auth, claimsForSdk } from './auth.js';

/**
 * The only calls the app makes outside the SDK: the room list, room creation, unread counts of
 * the rooms listed (see readCounts) and a presence check (see roomPresence).
 * Each carries the app's token, if it has one, and throws a SwitchboardError with the server's
 * code on failure.
 */

/** What ROOM_NAME_PATTERN allows, in words. */
export const ROOM_NAME_RULE = 'Room names are 1 to 64 letters, digits, “-”, “_” or “.” (no spaces, not only dots).';

function request<T>(method: 'GET' | 'PUT', path: string): Promise<T> {
  return apiRequest<T>(method, path, { token: auth.token });
}

/** Every room of the server, read a page of 500 at a time (`GET /api/rooms` answers pages by name). */
export async function listRooms(): Promise<RoomInfo[]> {
  const all: RoomInfo[] = [];
  let after: string | undefined;
  do {
    const page: { rooms: RoomInfo[]; next?: string } = await request('GET', `/api/rooms?limit=500${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
    all.push(...page.rooms);
    after = page.next;
  } while (after !== undefined);
  return all;
}

/** Creates a room (or finds it): idempotent. */
export async function createRoom(name: string): Promise<RoomInfo> {
  return request<RoomInfo>('PUT', `/api/rooms/${encodeURIComponent(name)}`);
}

/** Rooms `GET /api/read` takes at once. */
export const READ_COUNTS_MAX = 50;

/**
 * This member's unread counts in `rooms` (at most READ_COUNTS_MAX), one request
 * (`GET /api/read?rooms=`); rooms it may not read, or that do not exist, are left out.
 */
export async function readCounts(rooms: string[]): Promise<UnreadCount[]> {
  if (!rooms.length) return [];
  // Counts are per member: on an open server the member is claimed as the SDK claims it (a token says it otherwise).
  const me = auth.identity();
  const claims = auth.token === undefined ? claimsForSdk(me.name, me.member) : undefined;
  const who = claims ? `&name=${encodeURIComponent(claims.name)}&member=${encodeURIComponent(claims.member)}` : '';
  const { rooms: counts } = await request<{ rooms: UnreadCount[] }>('GET', `/api/read?rooms=${rooms.slice(0, READ_COUNTS_MAX).map(encodeURIComponent).join(',')}${who}`);
  return counts;
}

/**
 * Who is in a room now, as the server knows it (at most PRESENCE_LIST_MAX of them, and how many). The SDK's presence list learns only from join
 * and leave entries, so a member who switches transport keeps the old transport there; this
 * corrects it.
 */
export async function roomPresence(room: string): Promise<PresencePage> {
  // The most the route lists; a bigger room is a part of it and its `count`.
  return request<PresencePage>('GET', `/api/rooms/${encodeURIComponent(room)}/presence?limit=${PRESENCE_LIST_MAX}`);
}

/** Members listed by "Here now" at most (the presence route's own maximum). */
const PRESENCE_LIST_MAX = 1000;
