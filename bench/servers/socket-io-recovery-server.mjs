// Socket.IO 4.8 as the jitter bench runs it (bench/jitter.ts): WebSocket transport, connection
// state recovery on (missed packets are replayed to a client that comes back within two
// minutes). A client joins the room named in its handshake query; `POST /publish`
// `{room, text}` emits `message` `{seq, text}` to the room (seq: per room, from 1) and answers
// `{seq}`; `GET /healthz` answers 200. Listens on 127.0.0.1:PORT. Plain JavaScript, as
// Switchboard's built server is: no loader of tsx's in the process being measured.
import http from 'node:http';
import { Server } from 'socket.io';

const seqs = new Map();
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.end('ok');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.statusCode = 404;
    res.end();
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const { room, text } = JSON.parse(body);
    const seq = (seqs.get(room) ?? 0) + 1;
    seqs.set(room, seq);
    io.to(room).emit('message', { seq, text });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ seq }));
  });
});
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true },
});
io.on('connection', (socket) => {
  // A recovered socket is back in its rooms already.
  if (!socket.recovered) void socket.join(String(socket.handshake.query.room ?? 'bench'));
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
