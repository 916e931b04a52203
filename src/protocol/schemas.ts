import { z } from 'zod';
import { CLIENT_ID_PATTERN, MAX_NAME_LENGTH, ROOM_NAME_PATTERN } from './constants.js';
import { EVENT_NAME_PATTERN } from './payload.js';

/** Schemas of everything a client sends. The server validates with these; clients may too. */

export const roomName = z.string().regex(ROOM_NAME_PATTERN);
export const displayName = z
  .string()
  .min(1)
  .max(MAX_NAME_LENGTH)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters');
export const clientMessageId = z.string().regex(CLIENT_ID_PATTERN);
export const cursorText = z.string().max(64);
export const eventName = z.string().regex(EVENT_NAME_PATTERN, '1-64 of A-Z a-z 0-9 _ . : -');

/**
 * The payload of a publish, as far as a schema can say: the session checks the rest (a non-empty
 * `text` or a `data`, the size, `data` being JSON of bounded depth with well-formed strings), so
 * every transport gets the same catalog codes (TEXT_REQUIRED, MESSAGE_TOO_LARGE, INVALID_UTF8).
 */
const payload = {
  text: z.string().optional(),
  data: z.unknown().optional(),
  event: eventName.optional(),
};

/** Body of `POST /api/rooms/:room/messages`. */
export const publishBody = z.object({
  ...payload,
  clientId: clientMessageId.optional(),
  name: displayName.optional(),
  member: clientMessageId.optional(),
  connectionId: clientMessageId.optional(),
});
export type PublishBody = z.infer<typeof publishBody>;

/** Body of `POST /api/rooms/:room/typing`. */
export const typingBody = z.object({
  name: displayName.optional(),
  member: clientMessageId.optional(),
});

/** Native WebSocket frames from clients. */
export const clientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), id: z.string().max(64).optional(), room: roomName, after: cursorText.optional(), create: z.boolean().optional() }),
  z.object({ type: z.literal('unsubscribe'), id: z.string().max(64).optional(), room: roomName }),
  z.object({ type: z.literal('publish'), id: z.string().max(64).optional(), room: roomName, ...payload, clientId: clientMessageId.optional() }),
  z.object({ type: z.literal('typing'), room: roomName }),
  z.object({ type: z.literal('ping'), id: z.string().max(64).optional() }),
  z.object({ type: z.literal('refresh'), id: z.string().max(64).optional(), token: z.string().min(1).max(8192) }),
]);

export const CLIENT_FRAME_TYPES = ['subscribe', 'unsubscribe', 'publish', 'typing', 'ping', 'refresh'] as const;
