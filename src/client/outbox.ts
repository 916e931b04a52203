import type { Ack } from '../protocol/types.js';
import { SwitchboardError } from '../protocol/errors.js';
import { isRetryablePublishFailure, toClientError, type ClientError } from './errors.js';
import type { Command } from './transports/transport.js';

/** A publish or an amendment waiting for its ack. */
export interface PendingCommand {
  readonly command: Command;
  readonly clientId: string;
  /** Times it was handed to a transport. */
  attempts: number;
}

interface Entry extends PendingCommand {
  resolve: (ack: Ack) => void;
  reject: (err: ClientError) => void;
}

export interface OutboxOptions {
  /** True while a transport is connected and may take a publish. */
  canSend: () => boolean;
  /**
   * Sends one publish on the current transport. A failure that may be retried (see
   * isRetryablePublishFailure) must also make `canSend` false until a new transport is up
   * (the client tears the transport down), or the outbox would retry it at once.
   */
  send: (item: PendingCommand) => Promise<Ack>;
  /** Wait after RATE_LIMITED before sending the same publish again (the server's Retry-After). */
  rateLimitDelayMs?: number;
}

/**
 * Publishes and amendments (edits, deletes, reactions) in order, one at a time: each waits for
 * the ack of the one before, so they are stored in the order they were made whatever the
 * transport (HTTP requests on separate sockets could overtake each other). While offline, they
 * wait here and are sent on reconnect. A publish that failed on the network is retried with the same clientId: the server
 * stores a clientId once, so a retry of a publish that was in fact stored is acknowledged with
 * the original seq (`duplicate: true`) and stored no second time; the same holds for amendments
 * (a retried reaction toggle is stored, and toggles, once).
 */
export class Outbox {
  private readonly queue: Entry[] = [];
  private running = false;

  constructor(private readonly options: OutboxOptions) {}

  get size(): number {
    return this.queue.length;
  }

  add(command: Command, clientId: string): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      this.queue.push({ command, clientId, attempts: 0, resolve, reject });
      this.flush();
    });
  }

  /** Sends what waits, if a transport is up. Safe to call any time. */
  flush(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  /** Rejects every waiting publish (the client is closed or failed for good). */
  rejectAll(err: ClientError): void {
    for (const item of this.queue.splice(0)) item.reject(err);
  }

  private async run(): Promise<void> {
    let failuresInARow = 0;
    // `running` is cleared in the same synchronous step as the last check of the loop (the
    // finally runs right after it), so a flush() that comes later always starts a new run.
    try {
      while (this.queue.length > 0 && this.options.canSend()) {
        const head = this.queue[0]!;
        head.attempts++;
        try {
          const ack = await this.options.send(head);
          failuresInARow = 0;
          if (this.queue[0] === head) this.queue.shift();
          head.resolve(ack);
        } catch (raw) {
          if (this.queue[0] !== head) continue; // rejected meanwhile by rejectAll
          const err = toClientError(raw);
          if (err instanceof SwitchboardError && err.code === 'RATE_LIMITED') {
            await sleep(this.options.rateLimitDelayMs ?? 1000);
          } else if (isRetryablePublishFailure(err)) {
            // The transport is being replaced: the loop ends unless a new one is already up.
            if (++failuresInARow >= 3) await sleep(1000);
          } else {
            this.queue.shift();
            head.reject(err);
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
