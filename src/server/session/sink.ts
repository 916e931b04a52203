import type { SwitchboardError } from '../../protocol/errors.js';

/**
 * Where a long-lived session writes: a WebSocket or an SSE response. Transports implement it;
 * the session decides what to write (through its codec) and when to give up on a client.
 */
export interface Sink {
  /** Bytes written but not yet taken by the client (ours and the socket's buffers). */
  readonly bufferedBytes: number;
  /** True while the socket refuses more until it drains (the client is not reading). */
  readonly stalled: boolean;
  /** Writes one whole wire unit: a Buffer of pre-built frames or event text, or a string message. */
  write(chunk: string | Buffer): void;
  /** Ends the connection, saying why when `err` is given (close code, final event). Idempotent. */
  close(err?: SwitchboardError): void;
  /** Cuts the connection at once. */
  destroy(): void;
}
