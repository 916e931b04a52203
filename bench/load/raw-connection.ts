import net from 'node:net';

/**
 * The read buffer of every raw connection of a load process (node's `onread`): a read is parsed
 * before the next one comes, so one buffer serves them all, and a read costs no Buffer of its own
 * and none of a stream's work (push, its queue, a 'data' event). What a parser leaves for later
 * is copied out of it.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** What a raw connection hands its bytes to. */
export interface ByteSink {
  /**
   * Takes what came (`data` is valid during the call only) and returns how many of its bytes it
   * used: the rest is kept and comes again at the front of the next call, with what follows it.
   */
  bytes(data: Buffer): number;
  /** The connection is gone (an error, the peer's close, or `fail`); not called after `destroy`. */
  gone(reason: string): void;
}

/**
 * A TCP connection of the load generator that reads into the shared buffer and hands the bytes
 * to a parser (a WebSocket's frames, an SSE stream, keep-alive HTTP answers). A load process
 * holds thousands of them and reads every message of a broadcast on each: through node:http and
 * ws the load generator spent half to three quarters of the server's CPU per broadcast to 50,000
 * (more than the server's for SSE streams alone), and on a 2-core machine that CPU is taken
 * from the server under test (docs/operations.md, "Workers").
 */
export class RawConnection {
  private readonly socket: net.Socket;
  private kept: Buffer | undefined;
  private done = false;

  constructor(
    host: string,
    port: number,
    localAddress: string,
    private readonly sink: ByteSink,
    /** The most bytes kept unused (a head or a frame not yet whole) before the connection is taken for garbage. */
    private readonly maxKept = 1 << 20,
  ) {
    const socket = net.connect({
      host,
      port,
      localAddress,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          this.read(n);
          return true;
        },
      },
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? err.message.slice(0, 60)));
    socket.on('close', () => this.fail('ECONNRESET'));
    this.socket = socket;
  }

  write(data: string | Buffer, encoding: BufferEncoding = 'latin1'): void {
    if (this.done) return;
    if (typeof data === 'string') this.socket.write(data, encoding);
    else this.socket.write(data);
  }

  /** Ends the connection for `reason`: the sink is told (once). */
  fail(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.kept = undefined;
    this.socket.destroy();
    this.sink.gone(reason);
  }

  /** Drops the connection without telling the sink. */
  destroy(): void {
    this.done = true;
    this.kept = undefined;
    this.socket.destroy();
  }

  private read(n: number): void {
    if (this.done) return;
    let data = READ_BUFFER.subarray(0, n);
    if (this.kept !== undefined) {
      data = Buffer.concat([this.kept, data]);
      this.kept = undefined;
    }
    const used = this.sink.bytes(data);
    if (this.done || used >= data.length) return;
    if (data.length - used > this.maxKept) {
      this.fail(`over ${this.maxKept} bytes unparsed`);
      return;
    }
    // A copy: the read buffer is the next read's.
    this.kept = Buffer.from(data.subarray(used));
  }
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** An HTTP/1.1 answer's head: its status, its header lines (for regular expressions), and where the body starts. */
export interface AnswerHead {
  status: number;
  head: string;
  bodyStart: number;
}

/**
 * The head at the start of `data`: undefined while it is not whole, or a reason it is garbage
 * (a status line that is not HTTP/1.1, or more than `maxBytes` without its end).
 */
export function answerHead(data: Buffer, maxBytes = 16 * 1024): AnswerHead | string | undefined {
  const end = data.indexOf(HEAD_END);
  if (end < 0) return data.length > maxBytes ? 'head too long' : undefined;
  const head = data.toString('latin1', 0, end);
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
  if (!status) return 'bad status line';
  return { status: Number(status[1]), head, bodyStart: end + 4 };
}

/** Reads a body from `from` in `data` and returns the bytes it used, as ByteSink.bytes does. */
export type BodyReader = (data: Buffer, from: number) => number;

/** A GET whose answer is a stream (an SSE stream, a WebSocket after its opening handshake): see openStream. */
export interface StreamRequest {
  baseUrl: string;
  localAddress: string;
  /** The request's target (path and query). */
  target: string;
  /** Header lines after Host, each ending with CRLF. */
  headers: string;
  /** The status the answer must have. */
  status: number;
  /** An answer of another status: returns the reason the connection ends with. */
  refused(status: number): string;
  /** Checks the head and returns the reader of what follows it, or the reason the connection ends with. */
  begin(head: AnswerHead, connection: RawConnection): BodyReader | string;
  /** The connection is gone (as ByteSink.gone). */
  gone(reason: string): void;
}

/** Opens a raw connection, sends the request, and reads the answer's head, then its stream. */
export function openStream(r: StreamRequest): RawConnection {
  const url = new URL(r.baseUrl);
  let body: BodyReader | undefined;
  const ended = (reason: string): number => {
    connection.fail(reason);
    return 0;
  };
  const connection: RawConnection = new RawConnection(url.hostname, Number(url.port), r.localAddress, {
    bytes: (data) => {
      if (body) return body(data, 0);
      const head = answerHead(data);
      if (head === undefined) return 0;
      if (typeof head === 'string') return ended(head);
      if (head.status !== r.status) return ended(r.refused(head.status));
      const next = r.begin(head, connection);
      if (typeof next === 'string') return ended(next);
      body = next;
      return next(data, head.bodyStart);
    },
    gone: (reason) => r.gone(reason),
  });
  connection.write(`GET ${r.target} HTTP/1.1\r\nHost: ${url.host}\r\n${r.headers}\r\n`);
  return connection;
}

/** The value of header `name` (lower case) in a head from answerHead, or undefined. */
export function headerOf(head: string, name: string): string | undefined {
  const at = head.toLowerCase().indexOf(`\r\n${name}:`);
  if (at < 0) return undefined;
  const from = at + name.length + 3;
  const to = head.indexOf('\r\n', from);
  return head.slice(from, to < 0 ? undefined : to).trim();
}
