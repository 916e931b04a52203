// Switchboard's held long poll alone: the built server (as switchboard-built-server.mjs starts
// it, with the same V8 flags: its name holds "switchboard", bench/lib.ts), whose native long
// polls of room `bench` are taken from node's `request` event straight to `Hub.holdPoll` and
// answered with `sendPollJson`, the two that the long-poll route itself ends in. Left out: the
// session of each request (handshake, admission, rights, read budget, the answer's record), the
// router and the request scheduler. Every other request (the publishes) goes to Switchboard as
// usual. What a held poll costs without the trust pipeline around it: `COSTS_POLL_KINDS=held-longpoll`
// beside `native-longpoll` and `bare-longpoll` (docs/operations.md, "What a poll costs"). Not a
// server to run: nothing here checks who asks.
import { createSwitchboard } from '../../dist/src/server/server.js';
import { QueryUrl } from '../../dist/src/server/http-util.js';
import { COMMON_HEADERS } from '../../dist/src/server/router.js';
import { sendPollJson } from '../../dist/src/server/transports/polling.js';
import { answerStats } from './built-ipc.mjs';
import { builtBenchOptions } from './built-options.mjs';

const server = createSwitchboard(builtBenchOptions());
const port = await server.listen();
await server.hub.createRoom('bench');

/** A poll that nothing but its answer ends (no session to close it). */
const NO_STOP = { onClose() {}, offClose() {} };
const LONG_POLL = '/api/rooms/bench/longpoll?';
const switchboard = server.http.listeners('request');
server.http.removeAllListeners('request');
server.http.on('request', (req, res) => {
  if (req.method !== 'GET' || !req.url?.startsWith(LONG_POLL)) {
    for (const listener of switchboard) listener.call(server.http, req, res);
    return;
  }
  const query = new QueryUrl(req.url).searchParams;
  // As the route does: a held answer keeps no write deadline (the poll's timeout ends it).
  req.setTimeout(0);
  const reply = {
    answer: (result) => sendPollJson(res, result, COMMON_HEADERS),
    fail: (err) => {
      res.writeHead(500).end(String(err));
    },
  };
  server.hub.holdPoll('bench', query.get('after') ?? undefined, 100, Number(query.get('timeout') ?? 25_000), NO_STOP, reply, {});
});

answerStats();
process.send?.({ port });
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
