// The lecture's SSE server (chapter 11 of ../shared/seed/, as its wire contract describes it:
// `GET /subscribe` is a `text/event-stream` with `retry`, `id` and `data` fields, `POST /update`
// with `{"text": ...}` publishes `{text, timestamp}` to every open stream), written the way the
// lecture writes it: a list of open responses, one `res.write` per client per message, no
// history, no resume, no limits. Plain JavaScript, so that no transform adds to its cost.
// The baseline beside Switchboard's SSE in `bench/costs/costs.ts sse`.
import http from 'node:http';
import { answerStats } from '../costs/built-ipc.mjs';

let clients = [];
let id = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/subscribe') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.write('retry: 10000\n\n');
    clients.push(res);
    req.on('close', () => (clients = clients.filter((c) => c !== res)));
    return;
  }
  if (req.method === 'POST' && req.url === '/update') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let text;
      try {
        text = JSON.parse(body).text;
      } catch {
        text = undefined;
      }
      if (typeof text !== 'string') {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'text is required' }));
        return;
      }
      const message = { text, timestamp: Date.now() };
      id++;
      for (const c of clients) c.write(`id: ${id}\ndata: ${JSON.stringify(message)}\n\n`);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(message));
    });
    return;
  }
  res.writeHead(404);
  res.end();
});

server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: server.address().port });
});
process.on('SIGTERM', () => process.exit(0));
