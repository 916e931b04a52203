// The polling peer of bench/costs/costs.ts: Socket.IO 4 with its HTTP long-polling transport
// only, one room, `io.to(room).emit` per message. Messages come in by `POST /publish` (`{text}`),
// as they come to Switchboard by its REST route, so both sides pay for the publish alike. Plain
// JavaScript, as Switchboard's built server is (switchboard-built-server.mjs): under tsx, its
// loader thread and hooks were Socket.IO's cost alone (in a `perf` record of the window, tsx's
// CommonJS lexing of modules loaded late: COSTS_PERF=1).
import http from 'node:http';
import { Server } from 'socket.io';
import { answerStats } from './built-ipc.mjs';

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') return;
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const { text } = JSON.parse(body);
    io.to('bench').emit('message', { type: 'message', room: 'bench', seq: ++seq, ts: Date.now(), text });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
// Pollers of a page on another origin (COSTS_POLL_ORIGIN): answered with CORS headers, as Switchboard's are.
const cors = process.env.COSTS_POLL_ORIGIN ? { cors: { origin: '*' } } : {};
const io = new Server(server, { transports: ['polling'], serveClient: false, ...cors });
let seq = 0;
io.on('connection', (socket) => void socket.join('bench'));
server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: server.address().port });
});
process.on('SIGTERM', () => process.exit(0));
