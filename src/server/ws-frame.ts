import * as wsModule from 'ws';
import WebSocket from 'ws';

/**
 * Pre-framing for broadcasts: a text frame is built once (ws's own `Sender.frame`) and the same
 * bytes are written to every recipient's socket, instead of `ws.send` framing it per socket.
 * Valid only while permessage-deflate is off (it is: compressed frames differ per socket).
 */
interface SenderStatic {
  frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
}
interface SenderInstance {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
}

// `Sender` is a named export of ws's ESM entry that @types/ws does not declare.
const Sender = (wsModule as unknown as { Sender: SenderStatic }).Sender;

/** One unmasked, final text frame holding `text`. */
export function frameText(text: string): Buffer {
  const list = Sender.frame(Buffer.from(text, 'utf8'), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  return list.length === 1 ? list[0]! : Buffer.concat(list);
}

/** Writes already-framed bytes (one or more whole frames) to an open WebSocket. */
export function writeFrames(ws: WebSocket, frames: Buffer): boolean {
  if (ws.readyState !== WebSocket.OPEN) return false;
  (ws as unknown as { _sender: SenderInstance })._sender.sendFrame([frames]);
  return true;
}
