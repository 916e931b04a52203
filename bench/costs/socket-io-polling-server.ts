import http from 'node:http';
import { Server } from 'socket.io';
import { answerStats } from '../servers/ipc.js';

/**
 * The polling peer of bench/costs.ts: Socket.IO 4 with its HTTP long-polling transport only, one
 * room, `io.to(room).emit` per message. Messages come in by `POST /publish` (`{text}`), as they
 * come to Switchboard by its REST route, so both sides pay for the publish alike.
 */
const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') return;
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    const { text } = JSON.parse(body) as { text: string };
    io.to('bench').emit('message', { type: 'message', room: 'bench', seq: ++seq, ts: Date.now(), text });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
const io = new Server(server, { transports: ['polling'], serveClient: false });
let seq = 0;
io.on('connection', (socket) => void socket.join('bench'));
server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('SIGTERM', () => process.exit(0));
