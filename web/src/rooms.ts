import type { Entry, HistoryPage, PresenceMember, RoomInfo } from 'switchboard-client';
import { apiRequest } from './api.js';
import { auth } from './auth.js';

/**
 * The only calls the app makes outside the SDK: the room list, room creation, the newest page of
 * a room you are not in (to count its unread messages) and a presence check (see roomPresence).
 * Each carries the app's token, if it has one, and throws a SwitchboardError with the server's
 * code on failure.
 */

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

/** The newest entries of a room (for unread counts of rooms you are not in). */
export async function latestEntries(room: string, limit = 100): Promise<Entry[]> {
  const page = await request<HistoryPage>('GET', `/api/rooms/${encodeURIComponent(room)}/messages?limit=${limit}`);
  return page.entries;
}

/**
 * Who is in a room now, as the server knows it. The SDK's presence list learns only from join
 * and leave entries, so a member who switches transport keeps the old transport there; this
 * corrects it.
 */
export async function roomPresence(room: string): Promise<PresenceMember[]> {
  const { members } = await request<{ members: PresenceMember[] }>('GET', `/api/rooms/${encodeURIComponent(room)}/presence`);
  return members;
}
