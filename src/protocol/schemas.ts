import { z } from 'zod';
import { CLIENT_ID_PATTERN, MAX_NAME_LENGTH, ROOM_NAME_PATTERN } from './constants.js';
import { EVENT_NAME_PATTERN } from './payload.js';

/** Schemas of everything a client sends. The server validates with these; clients may too. */

export const roomName = z.string().regex(ROOM_NAME_PATTERN);
export const displayName = z
  .string()
  .min(1)
  .max(MAX_NAME_LENGTH)
  // Control characters of both ranges, C0 and C1 (U+0080-U+009F: U+009B is a terminal's CSI), as a token's name claim.
  .regex(/^\P{Cc}+$/u, 'no control characters')
  // A JSON body can hold one ("\ud800"), which no UTF-8 can carry on: refused as in texts.
  .refine((name) => name.isWellFormed(), 'no lone surrogates');
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

/** A message's seq in its room. */
export const seqNumber = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** A reaction: 1-32 UTF-16 units, no whitespace or control characters (an emoji, or a short code like `+1`). */
export const emoji = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[^\s\p{Cc}]+$/u, 'no whitespace or control characters')
  .refine((e) => e.isWellFormed(), 'no lone surrogates (half an emoji)');

/** Body of `POST /api/rooms/:room/messages`. */
export const publishBody = z.object({
  ...payload,
  replyTo: seqNumber.optional(),
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

/** Body of `PATCH /api/rooms/:room/messages/:seq`. */
export const editBody = z.object({ text: z.string(), clientId: clientMessageId.optional() });
/** Body of `DELETE /api/rooms/:room/messages/:seq` (optional). */
export const deleteBody = z.object({ clientId: clientMessageId.optional() });
/** Body of `POST /api/rooms/:room/messages/:seq/reactions`: `on` absent toggles. */
export const reactBody = z.object({ emoji, on: z.boolean().optional(), clientId: clientMessageId.optional() });
/** Body of `PUT /api/rooms/:room/read`. */
export const readBody = z.object({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
/** Search text: 1-200 characters. */
export const searchQuery = z.string().min(1).max(200);

/** Native WebSocket frames from clients. */
export const clientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), id: z.string().max(64).optional(), room: roomName, after: cursorText.optional(), create: z.boolean().optional() }),
  z.object({ type: z.literal('unsubscribe'), id: z.string().max(64).optional(), room: roomName }),
  z.object({ type: z.literal('publish'), id: z.string().max(64).optional(), room: roomName, ...payload, clientId: clientMessageId.optional(), replyTo: seqNumber.optional() }),
  z.object({ type: z.literal('edit'), id: z.string().max(64).optional(), room: roomName, seq: seqNumber, text: z.string(), clientId: clientMessageId.optional() }),
  z.object({ type: z.literal('delete'), id: z.string().max(64).optional(), room: roomName, seq: seqNumber, clientId: clientMessageId.optional() }),
  z.object({ type: z.literal('react'), id: z.string().max(64).optional(), room: roomName, seq: seqNumber, emoji, on: z.boolean().optional(), clientId: clientMessageId.optional() }),
  z.object({ type: z.literal('mark-read'), id: z.string().max(64).optional(), room: roomName, seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
  z.object({ type: z.literal('typing'), room: roomName }),
  z.object({ type: z.literal('ping'), id: z.string().max(64).optional() }),
  z.object({ type: z.literal('refresh'), id: z.string().max(64).optional(), token: z.string().min(1).max(8192) }),
]);

export const CLIENT_FRAME_TYPES = ['subscribe', 'unsubscribe', 'publish', 'edit', 'delete', 'react', 'mark-read', 'typing', 'ping', 'refresh'] as const;
