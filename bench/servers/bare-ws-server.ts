import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { answerStats } from './ipc.js';

/**
 * The baseline: the lecture's design done right with bare `ws`. Every message is stamped with a
 * seq and re-encoded (JSON.stringify + ws.send framing) once per recipient, as most hand-written
 * broadcast servers do.
 */
const server = http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
const clients = new Set<WebSocket>();
let seq = 0;
wss.on('connection', (ws) => {
  clients.add(ws);
  ws.on('close', () => clients.delete(ws));
  ws.on('message', (data) => {
    const { text } = JSON.parse(String(data)) as { text: string };
    const message = { type: 'message', room: 'bench', seq: ++seq, ts: Date.now(), text };
    for (const c of clients) c.send(JSON.stringify(message));
  });
});
server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('SIGTERM', () => process.exit(0));
