/** Defaults and fixed limits shared by server and clients. Server options override the defaults. */

/** The room the lecture's routes (`/poll`, `/longpoll`, `/subscribe`, `/update`, WS `/`) use. */
export const DEFAULT_ROOM = 'lobby';

/**
 * Room names: 1-64 of A-Z a-z 0-9 _ . -, not only dots: `.` and `..` are path segments that
 * browsers and URL-normalising clients resolve away, so `/api/rooms/..` could never be reached.
 */
export const ROOM_NAME_PATTERN = /^(?!\.+$)[A-Za-z0-9_.-]{1,64}$/;

/** Display names: 1-64 characters, no control characters. */
export const MAX_NAME_LENGTH = 64;

/** Client message ids: 1-64 of A-Z a-z 0-9 _ - : . */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_:.-]{1,64}$/;

/** Native routes live under this prefix; the WebSocket endpoint is `${API_PREFIX}/ws`. */
export const API_PREFIX = '/api';
export const WS_PATH = '/ws';

/** Largest page of entries any route returns at once. */
export const MAX_PAGE = 500;
