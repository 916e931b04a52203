import WebSocket from 'ws';
import { BenchClient } from './bench-client.js';

interface Frame {
  type: string;
  seq?: number;
  text?: string;
  epoch?: string;
  cursor?: string;
  code?: string;
  reset?: string;
}

/** A Switchboard WebSocket client (`/api/ws`): subscribes to its room, from its cursor after a reconnection. */
export class WsBenchClient extends BenchClient {
  private ws: WebSocket | undefined;
  private epoch: string | undefined;
  private lastSeq = 0;

  protected open(after: string | undefined): void {
    const attempt = this.attempt;
    const { baseUrl, localAddress, name, member, room } = this.setup;
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/ws?name=${name}&member=${member}`, { perMessageDeflate: false, localAddress, handshakeTimeout: 30_000 });
    this.ws = ws;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', room, ...(after !== undefined ? { after } : {}) })));
    ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as Frame;
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
    });
    // ws emits 'close' after every 'error', handshake failures included.
    ws.on('error', (err: NodeJS.ErrnoException) => this.error(err.code ?? err.message.slice(0, 60)));
    ws.on('close', (code: number) => this.down(attempt, `close ${code}`));
  }

  protected cutConnection(): void {
    this.ws?.terminate();
  }

  protected shut(): void {
    this.ws?.terminate();
  }

  protected cursor(): string | undefined {
    return this.epoch === undefined ? undefined : `${this.epoch}:${this.lastSeq}`;
  }
}
