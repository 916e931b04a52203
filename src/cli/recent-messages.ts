import type { Client, Entry } from '../client/types.js';

/**
 * The last `count` chat messages stored before seq `before` (exclusive), oldest first, paging
 * back through history (which also holds join/leave entries) until enough are found.
 */
export async function recentMessages(client: Client, count: number, before: number | undefined): Promise<Entry[]> {
  const found: Entry[] = [];
  let cursor = before;
  while (found.length < count) {
    const page = await client.history({ ...(cursor !== undefined ? { before: cursor } : {}), limit: Math.min(500, Math.max(20, count * 2)) });
    const messages = page.entries.filter((e) => e.type === 'message');
    found.unshift(...messages);
    const first = page.entries[0];
    if (!page.more || first === undefined) break;
    cursor = first.seq;
  }
  return found.slice(-count);
}
