/**
 * Held answers give their slot back when they close, whether answered or cut, one or several on
 * a connection (src/server/answer-close.ts: one 'close' listener per answer, the held answers of
 * a connection found through its record).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import type { Switchboard } from '../src/server/server.js';
import { startServer, waitFor } from './helpers.js';

/** A server with room `r`, its head's cursor and its count of open connections before the test: `test` runs with them, then the server closes. */
async function withRoom(test: (s: { server: Switchboard; port: number; cursor: string; open: () => number; before: number }) => Promise<void>): Promise<void> {
  const { server, port } = await startServer();
  try {
    await server.createRoom('r');
    const { cursor } = (await (await fetch(`http://127.0.0.1:${port}/api/rooms/r/poll`)).json()) as { cursor: string };
    const { connections } = server.context;
    await test({ server, port, cursor, open: () => connections.size, before: connections.size });
  } finally {
    await server.close();
  }
}

/** A raw HTTP/1.1 connection that sends `requests` pipelined in one write and collects what comes back. */
async function pipelined(port: number, requests: string[]): Promise<{ socket: net.Socket; received: () => string }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => (text += c));
  socket.write(requests.map((path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
  return { socket, received: () => text };
}

describe('held answers release their slots when they close', () => {
  it('three long polls pipelined on one connection hold three slots, and give all three back when the client hangs up', () =>
    withRoom(async ({ port, cursor, open, before }) => {
      const poll = `/api/rooms/r/longpoll?after=${encodeURIComponent(cursor)}&timeout=60000`;
      const { socket } = await pipelined(port, [poll, poll, poll]);
      await waitFor(() => open() === before + 3, 5000, 'three held long polls');
      socket.destroy();
      await waitFor(() => open() === before, 5000, 'every slot given back');
    }));

  it('an answered long poll gives its slot back while its connection stays open for the next request', () =>
    withRoom(async ({ server, port, cursor, open, before }) => {
      const { socket, received } = await pipelined(port, [`/api/rooms/r/longpoll?after=${encodeURIComponent(cursor)}&timeout=60000`]);
      await waitFor(() => open() === before + 1, 5000, 'the held long poll');
      await server.publish('r', { text: 'wakes it' });
      await waitFor(() => received().includes('wakes it'), 5000, 'the answer');
      await waitFor(() => open() === before, 5000, 'its slot given back');
      assert.equal(socket.destroyed, false, 'the connection stays open (keep-alive)');
      // The same connection holds again, and is counted again.
      socket.write(`GET /api/rooms/r/longpoll?timeout=60000 HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(() => open() === before + 1, 5000, 'held again on the same connection');
      socket.destroy();
      await waitFor(() => open() === before, 5000, 'given back again');
    }));
});
