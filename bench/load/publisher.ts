import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { now } from './bench-client.js';

export interface Ack {
  room: string;
  seq: number;
}

/**
 * Publishes `t:<publish time>` messages over HTTP keep-alive (Switchboard's
 * `POST /api/rooms/:room/messages`, or the Socket.IO bench server's `POST /publish`). A
 * publish that fails (refused, connection cut, 5xx) is sent again with the same `clientId`
 * until it is acknowledged, for at most `retryForMs`: what was acknowledged is what clients
 * must get. `acked` maps a room to its acknowledged seqs.
 */
export class Publisher {
  readonly acked = new Map<string, number[]>();
  failures = 0;
  retries = 0;
  /** Why attempts failed (and were retried): reason → count. */
  readonly retryReasons = new Map<string, number>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private n = 0;
  /** Client ids are unique to this publisher: another one (same process, same member) must not reuse them. */
  private readonly idPrefix = `bench-${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly baseUrl: string,
    private readonly dialect: 'switchboard' | 'socket.io' = 'switchboard',
    private readonly retryForMs = 30_000,
  ) {}

  /** Publishes one message to `room`; resolves with its ack, or undefined when it never was acknowledged. */
  async publish(room: string): Promise<Ack | undefined> {
    const clientId = `${this.idPrefix}-${++this.n}`;
    const deadline = Date.now() + this.retryForMs;
    const text = `t:${now()}`;
    for (;;) {
      try {
        const seq = await this.post(room, JSON.stringify({ text, clientId, room, member: 'bench-publisher', name: 'publisher' }));
        const list = this.acked.get(room) ?? [];
        list.push(seq);
        this.acked.set(room, list);
        return { room, seq };
      } catch (err) {
        // A refusal that a retry cannot change (4xx but 408/429) is not retried.
        if (/^HTTP 4(?!08|29)/.test((err as Error).message)) {
          this.failures++;
          this.retryReasons.set((err as Error).message.slice(0, 40), (this.retryReasons.get((err as Error).message.slice(0, 40)) ?? 0) + 1);
          return undefined;
        }
        const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message.slice(0, 40);
        this.retryReasons.set(reason, (this.retryReasons.get(reason) ?? 0) + 1);
        if (Date.now() > deadline) {
          this.failures++;
          return undefined;
        }
        this.retries++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Acknowledged seqs per room, each list ascending. */
  expected(): Record<string, number[]> {
    return Object.fromEntries([...this.acked].map(([room, seqs]) => [room, [...seqs].sort((a, b) => a - b)]));
  }

  close(): void {
    this.agent.destroy();
  }

  private post(room: string, body: string): Promise<number> {
    const url = this.dialect === 'switchboard' ? `${this.baseUrl}/api/rooms/${room}/messages` : `${this.baseUrl}/publish`;
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          if (res.statusCode !== 200 && res.statusCode !== 201) reject(new Error(`HTTP ${res.statusCode} ${text.slice(0, 100)}`));
          else resolve((JSON.parse(text) as { seq: number }).seq);
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** Creates rooms on a Switchboard server (`PUT /api/rooms/:room`), `concurrency` at a time. */
export async function createRooms(baseUrl: string, rooms: string[], concurrency = 20): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rooms.length) {
      const room = rooms[next++]!;
      await new Promise<void>((resolve, reject) => {
        const req = http.request(`${baseUrl}/api/rooms/${room}`, { method: 'PUT', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 || res.statusCode === 201 ? resolve() : reject(new Error(`PUT ${room}: HTTP ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end();
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
}
