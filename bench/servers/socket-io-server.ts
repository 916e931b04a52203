import http from 'node:http';
import { Server } from 'socket.io';
import { answerStats } from './ipc.js';

/**
 * The best-known peer: Socket.IO 4, WebSocket transport only (no long-polling upgrade dance),
 * broadcasting each message to a room with `io.to(room).emit`, which encodes the packet once.
 */
const server = http.createServer();
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
let seq = 0;
io.on('connection', (socket) => {
  void socket.join('bench');
  socket.on('publish', (msg: { text: string }) => {
    io.to('bench').emit('message', { type: 'message', room: 'bench', seq: ++seq, ts: Date.now(), text: msg.text });
  });
});
server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('SIGTERM', () => process.exit(0));
