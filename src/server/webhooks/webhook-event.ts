import { randomUUID } from 'node:crypto';

/** Every event a webhook can carry. */
export const WEBHOOK_EVENT_TYPES = ['member.online', 'member.offline', 'room.created', 'room.deleted', 'message.published'] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * What a webhook POST carries, as its JSON body. A retried event keeps its `id`, so a receiver
 * deduplicates on it (delivery is at least once).
 */
export interface WebhookEvent {
  /** A random UUID, the same on every attempt. */
  id: string;
  type: WebhookEventType;
  /** When the event happened, epoch milliseconds (not when it was sent). */
  ts: number;
  data: Record<string, unknown>;
}

/** A new event with a fresh id. `data` is kept by reference and serialised when sent. */
export function createWebhookEvent(type: WebhookEventType, data: Record<string, unknown>, now = Date.now()): WebhookEvent {
  return { id: randomUUID(), type, ts: now, data };
}
