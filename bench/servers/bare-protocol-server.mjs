// The floor of `npm run bench:connections`: the least a server can do to serve its load generator
// (bench/load/) Switchboard's wire protocol, and nothing else. WebSocket at /api/ws (`ws`, as
// Switchboard), SSE at /api/rooms/:room/events, short and long polls at /api/rooms/:room/poll and
// /longpoll, publishes at POST /api/rooms/:room/messages, answered with the same fields and about
// the same bytes as Switchboard's. WORKERS processes share the port (node:cluster, as `--workers`);
// the primary numbers each room's messages and hands every one to every worker over IPC, as
// Switchboard's workers without Redis do. Each worker encodes a message once per transport.
//
// Not there, on purpose: sessions, identities and rights, rate limits and caps, presence, typing,
// history (a worker keeps the last 1,000 messages of a room for long pollers a message behind),
// resume past that, storage, metrics, logs, fairness, timeouts of slow readers. Plain JavaScript,
// so that no transform adds to its cost. `npm run bench:connections -- --server bare ...`.
import cluster from 'node:cluster';
import http from 'node:http';
import { WebSocketServer } from 'ws';

const PORT = Number(process.env.PORT ?? 3000);
const WORKERS = Math.max(1, Number(process.env.WORKERS ?? 1));
const EPOCH = 'bareepoch0';
const KEEP = 1000;

/** The message entry of a publish `m` stored as `seq`, with the fields Switchboard's has. */
const entryOf = (m, seq) => ({ type: 'message', room: m.room, seq, ts: Date.now(), from: { id: 'bare', name: m.name, member: m.member, transport: 'http' }, text: m.text, clientId: m.clientId });

if (cluster.isPrimary && WORKERS > 1) {
  /** room -> { seq, byClientId: Map(clientId -> seq) } */
  const rooms = new Map();
  const workers = [];
  const onMessage = (from) => (m) => {
    if (m.type !== 'publish') return;
    let room = rooms.get(m.room);
    if (!room) rooms.set(m.room, (room = { seq: 0, byClientId: new Map() }));
    const known = room.byClientId.get(m.clientId);
    if (known !== undefined) {
      from.send({ type: 'ack', id: m.id, seq: known, ts: Date.now(), duplicate: true });
      return;
    }
    const seq = ++room.seq;
    room.byClientId.set(m.clientId, seq);
    const entry = entryOf(m, seq);
    for (const w of workers) w.send({ type: 'entry', entry });
    from.send({ type: 'ack', id: m.id, seq, ts: entry.ts, duplicate: false });
  };
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork();
    w.on('message', onMessage(w));
    workers.push(w);
  }
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => {
    for (const w of workers) w.kill();
    process.exit(0);
  });
} else {
  worker();
}

function worker() {
  /** room -> { name, lastSeq, recent: entries (the last KEEP), ws: Set, sse: Set, polls: Set of waiting { res, timer } } */
  const rooms = new Map();
  const roomOf = (name) => {
    let r = rooms.get(name);
    if (!r) rooms.set(name, (r = { name, lastSeq: 0, recent: [], ws: new Set(), sse: new Set(), polls: new Set() }));
    return r;
  };
  const pendingAcks = new Map();
  let nextId = 0;
  const single = !cluster.isWorker;
  const singleSeq = new Map();

  /** Publishes through the primary (or here, alone): resolves with the ack. */
  const publish = (m) =>
    new Promise((resolve) => {
      if (single) {
        const seq = (singleSeq.get(m.room) ?? 0) + 1;
        singleSeq.set(m.room, seq);
        const entry = entryOf(m, seq);
        deliver(entry);
        resolve({ seq, ts: entry.ts, duplicate: false });
        return;
      }
      const id = ++nextId;
      pendingAcks.set(id, resolve);
      process.send({ ...m, type: 'publish', id });
    });
  process.on('message', (m) => {
    if (m.type === 'entry') deliver(m.entry);
    else if (m.type === 'ack') {
      pendingAcks.get(m.id)?.(m);
      pendingAcks.delete(m.id);
    }
  });

  const pollBody = (room, entries) => JSON.stringify({ entries, room: room.name, epoch: EPOCH, cursor: `${EPOCH}:${room.lastSeq}`, more: false, typing: [] });
  const sendJson = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  /** One message to every client of its room here, encoded once per transport. */
  function deliver(entry) {
    const room = roomOf(entry.room);
    room.lastSeq = entry.seq;
    room.recent.push(entry);
    if (room.recent.length > KEEP) room.recent.shift();
    const json = JSON.stringify(entry);
    if (room.ws.size > 0) {
      for (const ws of room.ws) ws.send(json);
    }
    if (room.sse.size > 0) {
      const chunk = `id: ${EPOCH}:${entry.seq}\nevent: message\ndata: ${json}\n\n`;
      for (const res of room.sse) res.write(chunk);
    }
    if (room.polls.size > 0) {
      const body = pollBody(room, [entry]);
      const waiting = room.polls;
      room.polls = new Set();
      for (const p of waiting) {
        clearTimeout(p.timer);
        sendJson(p.res, 200, body);
      }
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const parts = url.pathname.split('/');
    if (url.pathname === '/healthz' || url.pathname === '/readyz') return sendJson(res, 200, '{"status":"ready"}');
    if (parts[1] !== 'api' || parts[2] !== 'rooms' || !parts[3]) return sendJson(res, 404, '{"code":"NOT_FOUND"}');
    const name = decodeURIComponent(parts[3]);
    const room = roomOf(name);
    const what = parts[4];
    if (req.method === 'PUT' && what === undefined) return sendJson(res, 201, JSON.stringify({ room: name, created: true }));
    if (req.method === 'POST' && what === 'messages') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        let m;
        try {
          m = JSON.parse(body);
        } catch {
          return sendJson(res, 400, '{"code":"BAD_JSON"}');
        }
        void publish({ room: name, text: m.text, clientId: m.clientId, name: m.name, member: m.member }).then((ack) =>
          sendJson(res, ack.duplicate ? 200 : 201, JSON.stringify({ room: name, seq: ack.seq, ts: ack.ts, epoch: EPOCH, duplicate: ack.duplicate, cursor: `${EPOCH}:${ack.seq}`, clientId: m.clientId })),
        );
      });
      return;
    }
    if (req.method === 'GET' && what === 'events') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' });
      res.write(`retry: 3000\n\nevent: ready\ndata: {"room":${JSON.stringify(name)},"epoch":"${EPOCH}","cursor":"${EPOCH}:${room.lastSeq}"}\n\n`);
      room.sse.add(res);
      req.on('close', () => room.sse.delete(res));
      return;
    }
    if (req.method === 'GET' && (what === 'poll' || what === 'longpoll')) {
      const after = url.searchParams.get('after');
      const seq = after ? Number(after.split(':')[1]) : room.lastSeq;
      const due = seq < room.lastSeq ? room.recent.filter((e) => e.seq > seq) : [];
      if (what === 'poll' || due.length > 0) return sendJson(res, 200, pollBody(room, due));
      const timeout = Math.min(Number(url.searchParams.get('timeout') ?? 25_000), 60_000);
      const p = { res, timer: setTimeout(() => {
        room.polls.delete(p);
        sendJson(res, 200, pollBody(room, []));
      }, timeout) };
      room.polls.add(p);
      req.on('close', () => {
        clearTimeout(p.timer);
        room.polls.delete(p);
      });
      return;
    }
    sendJson(res, 404, '{"code":"NOT_FOUND"}');
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/api/ws')) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      let joined;
      ws.on('message', (data) => {
        let f;
        try {
          f = JSON.parse(String(data));
        } catch {
          return ws.close(1007);
        }
        if (f?.type !== 'subscribe' || typeof f.room !== 'string') return;
        const room = roomOf(f.room);
        joined = room;
        room.ws.add(ws);
        ws.send(JSON.stringify({ type: 'subscribed', room: f.room, epoch: EPOCH, cursor: `${EPOCH}:${room.lastSeq}` }));
      });
      ws.on('close', () => joined?.ws.delete(ws));
      ws.on('error', () => {});
    });
  });
  server.listen(PORT, '127.0.0.1');
}
