import WebSocket from 'ws';
import type { ErrorCode } from '../../protocol/errors.js';
import type { FrameQueue } from './frame-queue.js';
import type { TrackedSocket } from './websocket.js';

/**
 * The WebSocket class of Switchboard's servers (ws's `WebSocket` option): a socket carries what
 * its listeners need, so that each listener is one function shared by every socket, called with
 * the socket as `this`, instead of closures made per connection (with their contexts, some 0.4 KB
 * of each idle connection's memory).
 */
export class ServerWebSocket extends WebSocket {
  /** Its incoming frames' queue (frame-queue.ts), fed by the shared 'message' listener. */
  frames: FrameQueue | undefined = undefined;
  /** What the gateway keeps of it (websocket.ts): its session, whether it answered the last ping. */
  tracked: TrackedSocket | undefined = undefined;
  /**
   * The close code of a frame ws refused itself (1007, 1009), which the socket's 'close' does not
   * tell: ws reads nothing after the refusal, not even the peer's close frame, and says 1006.
   */
  refusedWith: number | undefined = undefined;

  /**
   * ws closes with only a status code when its receiver refuses a frame (invalid UTF-8, over
   * maxPayload): the reason is then the catalog code, as in every close of Switchboard's.
   */
  override close(code?: number, data?: string | Buffer): void {
    const reason = code !== undefined && data === undefined ? RECEIVER_REFUSALS.get(code) : undefined;
    if (reason === undefined) {
      super.close(code, data);
      return;
    }
    this.refusedWith ??= code;
    super.close(code, reason);
  }
}

/** The close codes of ws's own refusals that the catalog names. */
const RECEIVER_REFUSALS: ReadonlyMap<number, ErrorCode> = new Map([
  [1007, 'INVALID_UTF8'],
  [1009, 'MESSAGE_TOO_LARGE'],
]);
