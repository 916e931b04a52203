/**
 * WebSocketSink over a real connection: the answers written in one turn (a group commit's acks)
 * leave the socket in one write, in order; a pre-framed broadcast still goes out as it comes.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { WebSocketSink } from '../src/server/transports/websocket-sink.js';
import { frameText } from '../src/server/ws-frame.js';

describe('WebSocketSink', () => {
  let wss: WebSocketServer;
  let sink: WebSocketSink;
  let client: WebSocket;
  /** Writes the server's socket handed to the kernel (each _write or _writev is one syscall). */
  let writes = 0;
  const received: string[] = [];

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', (ws) => resolve(ws)));
    client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    client.on('message', (data: Buffer) => received.push(data.toString()));
    const ws = await accepted;
    await new Promise<void>((resolve) => (client.readyState === WebSocket.OPEN ? resolve() : client.once('open', () => resolve())));
    const socket = (ws as unknown as { _socket: Socket & { _write: Function; _writev: Function } })._socket;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method];
      socket[method] = function (this: Socket, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
    sink = new WebSocketSink(ws, socket);
  });

  after(async () => {
    client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  const arrived = async (n: number): Promise<void> => {
    const until = Date.now() + 5000;
    while (received.length < n && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(received.length, n);
  };

  it('writes the answers of one turn with one write, in order', async () => {
    received.length = 0;
    writes = 0;
    // As a group commit settles its batch: each ack from its own promise reaction, in one turn.
    await Promise.all(Array.from({ length: 20 }, (_, i) => Promise.resolve().then(() => sink.write(`{"type":"ack","n":${i}}`))));
    await arrived(20);
    assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => `{"type":"ack","n":${i}}`));
    assert.equal(writes, 1);
  });

  it('writes answers of different turns apart, and a broadcast at once', async () => {
    received.length = 0;
    writes = 0;
    sink.write('{"type":"pong"}');
    await new Promise((resolve) => setImmediate(resolve));
    sink.write(frameText('{"type":"entry"}'));
    sink.write('{"type":"pong"}');
    await arrived(3);
    assert.deepEqual(received, ['{"type":"pong"}', '{"type":"entry"}', '{"type":"pong"}']);
    // The first turn's answer; the broadcast, not held; the second turn's answer.
    assert.equal(writes, 3);
  });
});
