import WebSocket from 'ws';
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
}
