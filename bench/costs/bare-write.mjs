// The floor of a long poll on node:http: the native long-poll routes of Switchboard
// (`GET /api/rooms/bench/poll`, `GET /api/rooms/bench/longpoll?after=…`, `POST
// /api/rooms/bench/messages`) with nothing but node's own work: one room in an array, held
// responses in a Set, each answer encoded once for every poll it goes to. No auth, no limits,
// no logs: what node itself costs per request answered, to compare Switchboard's routes with.
import http from 'node:http';
import { answerStats } from './built-ipc.mjs';

const epoch = 'bare';
const entries = [];
let held = new Set();
const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

function answer(res, after) {
  const found = entries.slice(after, after + 100);
  const json = JSON.stringify({ room: 'bench', epoch, entries: found, cursor: `${epoch}:${after + found.length}`, more: false, typing: [] });
  res.writeHead(200, { ...headers, "content-length": String(Buffer.byteLength(json)) }); res.write(json); res.end();
}

const server = http.createServer((req, res) => {
  const [path, query = ''] = req.url.split('?');
  if (req.method === 'POST' && path === '/api/rooms/bench/messages') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { text } = JSON.parse(body);
      entries.push({ type: 'message', room: 'bench', seq: entries.length + 1, ts: Date.now(), from: { id: 'x', name: 'x' }, text });
      res.writeHead(201, headers).end(`{"seq":${entries.length}}`);
      const waiting = held;
      held = new Set();
      if (waiting.size === 0) return;
      const after = entries.length - 1;
      const found = entries.slice(after);
      const json = JSON.stringify({ room: 'bench', epoch, entries: found, cursor: `${epoch}:${entries.length}`, more: false, typing: [] });
      const head = { ...headers, 'content-length': String(Buffer.byteLength(json)) };
      for (const r of waiting) { r.writeHead(200, head); r.write(json); r.end(); }
    });
    return;
  }
  const after = Number(/after=[^:]*:(\d+)/.exec(query)?.[1] ?? entries.length);
  if (path === '/api/rooms/bench/poll' || after < entries.length) return answer(res, after);
  if (path !== '/api/rooms/bench/longpoll') return res.writeHead(404).end();
  held.add(res);
  const timer = setTimeout(() => held.delete(res) && answer(res, after), 5000);
  res.on('close', () => {
    clearTimeout(timer);
    held.delete(res);
  });
});
server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: server.address().port });
});
process.on('SIGTERM', () => process.exit(0));
