// The floor of the lecture's polling routes on node:http: `GET /poll` (204, or 200 with the next
// message), `GET /longpoll` (held until a message, 408 on timeout) and `POST /update`, with
// Switchboard's wire behaviour for them and nothing else. The cursor travels in the `sb_seed`
// cookie and moves past each message answered (a Set-Cookie on every answer); a first request
// gets an `sb_guest` cookie of the length of Switchboard's presence ticket, so the client sends
// the same two cookies. Each message's body and head are made once for every poll it goes to.
// No auth, no presence, no limits, no logs: what node itself costs per lecture poll answered,
// to compare Switchboard's lecture routes with (bench/costs/costs.ts poll, kinds bare-lecture-*).
import http from 'node:http';
import { answerStats } from './built-ipc.mjs';

const epoch = 'bare';
const messages = [];
let held = new Set();
const LONG_POLL_MS = 25_000;
const COMMON = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
const GUEST = `sb_guest=${'x'.repeat(150)}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax`;

function cursorCookie(seq) {
  return `sb_seed=${epoch}%3A${seq}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax`;
}

/** The cursor of the request's `sb_seed` cookie (a message count), or undefined. */
function cursorOf(req) {
  const m = /(?:^|; )sb_seed=bare%3A(\d+)/.exec(req.headers.cookie ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Answers with the message after `after` (200, cursor past it) or with `emptyStatus` (cursor at the end). */
function answer(req, res, after, emptyStatus) {
  const cookies = req.headers.cookie?.includes('sb_guest=') ? [] : [GUEST];
  const m = after < messages.length ? messages[after] : undefined;
  if (m) {
    res.writeHead(200, { ...m.head, 'set-cookie': [cursorCookie(after + 1), ...cookies] }).end(m.body);
  } else {
    res.writeHead(emptyStatus, { ...COMMON, 'set-cookie': [cursorCookie(messages.length), ...cookies] }).end();
  }
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'POST' && path === '/update') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { text } = JSON.parse(body);
      const json = JSON.stringify({ text, timestamp: Date.now() });
      const bodyText = `${json}\n`;
      messages.push({ body: bodyText, head: { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(bodyText)), ...COMMON } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...COMMON }).end(json);
      const waiting = held;
      held = new Set();
      for (const h of waiting) {
        clearTimeout(h.timer);
        answer(h.req, h.res, h.after, 408);
      }
    });
    return;
  }
  const after = cursorOf(req) ?? messages.length;
  if (path === '/poll' || (path === '/longpoll' && after < messages.length)) return answer(req, res, after, 204);
  if (path !== '/longpoll') return res.writeHead(404).end();
  const h = { req, res, after, timer: undefined };
  h.timer = setTimeout(() => held.delete(h) && answer(req, res, after, 408), LONG_POLL_MS);
  held.add(h);
  res.on('close', () => {
    clearTimeout(h.timer);
    held.delete(h);
  });
});
server.listen(0, '127.0.0.1', () => {
  answerStats();
  process.send?.({ port: server.address().port });
});
process.on('SIGTERM', () => process.exit(0));
