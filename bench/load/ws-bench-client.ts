import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { BenchClient } from './bench-client.js';
import { headerOf, openStream, type RawConnection } from './raw-connection.js';

interface Frame {
  type: string;
  seq?: number;
  text?: string;
  epoch?: string;
  cursor?: string;
  code?: string;
  reset?: string;
}

/** RFC 6455's GUID, appended to the key to make the Sec-WebSocket-Accept the server must answer. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The most bytes of one message (its frames together) taken before the connection is taken for garbage. */
const MAX_MESSAGE = 1 << 20;

/**
 * The frames a server sends, by RFC 6455: unmasked, RSV bits clear (no extension is offered),
 * control frames whole and at most 125 bytes, text messages (whole, or in fragments) in UTF-8.
 * `bytes` takes what came and returns what it used, as a ByteSink does; it stops at the first
 * error (reported through `fail`) or close frame.
 */
export class WsFrameParser {
  private fragments: Buffer[] | undefined;
  private fragmentBytes = 0;
  private closed = false;

  constructor(
    private readonly on: {
      text(message: string): void;
      ping(payload: Buffer): void;
      close(code: number): void;
      fail(reason: string): void;
    },
  ) {}

  bytes(data: Buffer, from = 0): number {
    let pos = from;
    while (!this.closed && data.length - pos >= 2) {
      const b0 = data[pos]!;
      const b1 = data[pos + 1]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) return this.failed('RSV bits set', pos);
      if ((b1 & 0x80) !== 0) return this.failed('a masked frame from the server', pos);
      let length = b1 & 0x7f;
      let headLength = 2;
      if (length === 126) {
        if (data.length - pos < 4) return pos;
        length = data.readUInt16BE(pos + 2);
        headLength = 4;
      } else if (length === 127) {
        if (data.length - pos < 10) return pos;
        const long = data.readBigUInt64BE(pos + 2);
        if (long > BigInt(MAX_MESSAGE)) return this.failed('a frame too long', pos);
        length = Number(long);
        headLength = 10;
      }
      if (opcode >= 8 && (!fin || length > 125)) return this.failed('a fragmented or long control frame', pos);
      if (length > MAX_MESSAGE) return this.failed('a frame too long', pos);
      const start = pos + headLength;
      if (data.length < start + length) return pos;
      const payload = data.subarray(start, start + length);
      pos = start + length;
      if (opcode === 1 || opcode === 0) {
        if ((opcode === 1) === (this.fragments !== undefined)) return this.failed(opcode === 1 ? 'a text frame inside a fragmented message' : 'a continuation without a message', pos);
        if (fin && opcode === 1) {
          if (!isUtf8(payload)) return this.failed('text that is not UTF-8', pos);
          this.on.text(payload.toString('utf8'));
          continue;
        }
        // A copy: `data` may be the shared read buffer.
        (this.fragments ??= []).push(Buffer.from(payload));
        this.fragmentBytes += length;
        if (this.fragmentBytes > MAX_MESSAGE) return this.failed('a message too long', pos);
        if (fin) {
          const whole = Buffer.concat(this.fragments, this.fragmentBytes);
          this.fragments = undefined;
          this.fragmentBytes = 0;
          if (!isUtf8(whole)) return this.failed('text that is not UTF-8', pos);
          this.on.text(whole.toString('utf8'));
        }
      } else if (opcode === 8) {
        this.closed = true;
        if (length === 1) return this.failed('a close frame of one byte', pos);
        this.on.close(length >= 2 ? payload.readUInt16BE(0) : 1005);
      } else if (opcode === 9) {
        this.on.ping(payload);
      } else if (opcode !== 10) {
        return this.failed(opcode === 2 ? 'a binary frame' : `opcode ${opcode}`, pos);
      }
    }
    return pos;
  }

  private failed(reason: string, pos: number): number {
    this.closed = true;
    this.on.fail(reason);
    return pos;
  }
}

/** A client frame: final, masked (RFC 6455 requires it of clients) with a fresh key. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const headLength = payload.length < 126 ? 2 : payload.length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headLength + 4 + payload.length);
  frame[0] = 0x80 | opcode;
  if (headLength === 2) frame[1] = 0x80 | payload.length;
  else if (headLength === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(payload.length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headLength);
  const at = headLength + 4;
  for (let i = 0; i < payload.length; i++) frame[at + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/**
 * A Switchboard WebSocket client (`/api/ws`): subscribes to its room, from its cursor after a
 * reconnection. On a raw connection (RawConnection) with its own RFC 6455 client: the opening
 * handshake checked (101, `Upgrade: websocket`, the Sec-WebSocket-Accept of its key), the
 * server's frames read by WsFrameParser, pings answered, a close frame answered and the
 * connection dropped.
 */
export class WsBenchClient extends BenchClient {
  private connection: RawConnection | undefined;
  private epoch: string | undefined;
  private lastSeq = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;

  protected open(after: string | undefined): void {
    const attempt = this.attempt;
    const { baseUrl, localAddress, name, member, room } = this.setup;
    const key = randomBytes(16).toString('base64');
    const connection = openStream({
      baseUrl,
      localAddress,
      target: `/api/ws?name=${name}&member=${member}`,
      headers: `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n`,
      status: 101,
      refused: (status) => {
        this.error(`HTTP ${status}`);
        return 'close 1006';
      },
      begin: (head, connection) => {
        const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
        if (headerOf(head.head, 'upgrade')?.toLowerCase() !== 'websocket' || headerOf(head.head, 'sec-websocket-accept') !== accept) return 'a bad opening handshake';
        clearTimeout(this.handshakeTimer);
        connection.write(clientFrame(1, Buffer.from(JSON.stringify({ type: 'subscribe', room, ...(after !== undefined ? { after } : {}) }))));
        const frames = new WsFrameParser({
          text: (message) => this.onFrame(attempt, message),
          ping: (payload) => connection.write(clientFrame(10, payload)),
          close: (code) => {
            // The close answered, then the connection dropped (the server closes it after its own frame too).
            connection.write(clientFrame(8, Buffer.from([code >> 8, code & 0xff])));
            connection.fail(`close ${code}`);
          },
          fail: (reason) => connection.fail(reason),
        });
        return (data, from) => frames.bytes(data, from);
      },
      gone: (reason) => {
        clearTimeout(this.handshakeTimer);
        this.down(attempt, reason === 'ECONNRESET' ? 'close 1006' : reason);
      },
    });
    this.connection = connection;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = setTimeout(() => connection.fail('opening handshake timed out'), 30_000);
  }

  private onFrame(attempt: number, message: string): void {
    if (attempt !== this.attempt) return;
    const f = JSON.parse(message) as Frame;
    if (f.type === 'message' || f.type === 'join' || f.type === 'leave') {
      this.lastSeq = f.seq!;
      if (f.type === 'message') this.entry(attempt, f.seq!, f.text);
    } else if (f.type === 'subscribed') {
      this.epoch = f.epoch;
      this.lastSeq = Math.max(this.lastSeq, Number(f.cursor!.split(':')[1]));
      if (f.reset) this.error(`reset ${f.reset}`);
      this.up(attempt);
    } else if (f.type === 'presence') {
      this.notice();
    } else if (f.type === 'error') {
      this.error(f.code ?? 'error frame');
    }
  }

  protected cutConnection(): void {
    clearTimeout(this.handshakeTimer);
    this.connection?.destroy();
  }

  protected shut(): void {
    clearTimeout(this.handshakeTimer);
    this.connection?.destroy();
  }

  protected cursor(): string | undefined {
    return this.epoch === undefined ? undefined : `${this.epoch}:${this.lastSeq}`;
  }
}
