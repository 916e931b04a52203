/**
 * `npm run bench:behind-polls`: what a poll behind the head costs. Starts Switchboard with
 * --server-args (default `--workers 2`: a worker reads a file the primary appends to), fills one
 * room with --backlog messages, then for --seconds runs --pollers short-poll loops (keep-alive),
 * each asking at a cursor 10 to 99 entries behind the head, while a message is published every
 * 50 ms: no two polls share an answer, as after a reconnection wave or a rolling restart, when
 * pollers come back each at its own position. Prints polls answered, entries per answer, and the
 * server's CPU (every process of the tree) per poll.
 *
 *   npm run bench:behind-polls -- --server-args="--workers 2"
 *
 * BENCH_SERVER_CLI runs another build (see bench/load/server-under-test.ts): alternate the two
 * within minutes, the machine's load moves the figures.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { getJson, sleep } from './lib.js';
import { Publisher, createRooms } from './load/publisher.js';
import { ServerUnderTest, loadFriendlyArgs } from './load/server-under-test.js';

const { values } = parseArgs({
  options: {
    'server-args': { type: 'string', default: '--workers 2' },
    pollers: { type: 'string', default: '100' },
    backlog: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '10' },
  },
});
const pollers = Number(values.pollers);
const backlog = Number(values.backlog);
const seconds = Number(values.seconds);
for (const [name, n] of [['pollers', pollers], ['backlog', backlog], ['seconds', seconds]] as const) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of 1 or more, not ${String(values[name])}`);
}
if (backlog < 100) throw new Error('--backlog must be 100 or more: the pollers ask up to 99 entries behind the head');

const server = await ServerUnderTest.switchboard([...loadFriendlyArgs(pollers), ...values['server-args'].split(/\s+/).filter(Boolean)]);
const agent = new http.Agent({ keepAlive: true, maxSockets: pollers });
const publisher = new Publisher(server.baseUrl);

try {
  await createRooms(server.baseUrl, ['behind']);
  /** The room's newest seq, as the last acknowledgement said. */
  let head = 0;
  const publish = async (): Promise<void> => {
    const ack = await publisher.publish('behind');
    if (ack === undefined) throw new Error(`a publish was never acknowledged: ${JSON.stringify(Object.fromEntries(publisher.retryReasons))}`);
    head = ack.seq;
  };
  for (let i = 0; i < backlog; i++) await publish();
  const { epoch } = await getJson<{ epoch: string }>(`${server.baseUrl}/api/rooms/behind/poll?limit=1`, agent);
  let stop = false;
  let polls = 0;
  let entries = 0;
  const publishing = (async () => {
    while (!stop) {
      await publish();
      await sleep(50);
    }
  })();
  const poller = async (): Promise<void> => {
    while (!stop) {
      const behind = 10 + Math.floor(Math.random() * 90);
      const answer = await getJson<{ entries?: unknown[] }>(`${server.baseUrl}/api/rooms/behind/poll?after=${epoch}:${head - behind}`, agent);
      if (answer.entries === undefined) throw new Error(`a poll was refused: ${JSON.stringify(answer).slice(0, 200)}`);
      polls++;
      entries += answer.entries.length;
    }
  };
  const loops = Array.from({ length: pollers }, poller);
  // Warm-up, then the window.
  await sleep(1000);
  const cpu0 = server.cpuMs();
  const polls0 = polls;
  const entries0 = entries;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = server.cpuMs() - cpu0;
  const answered = polls - polls0;
  const window = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all([publishing, ...loops]);
  console.log(`Polls behind the head: ${pollers} pollers, 10-99 entries behind, server args "${values['server-args']}"`);
  console.log(`  ${answered} polls in ${window.toFixed(1)} s (${Math.round(answered / window)}/s), ${((entries - entries0) / Math.max(1, answered)).toFixed(0)} entries each; server CPU ${(cpu / 1000).toFixed(2)} s, ${Math.round((cpu * 1000) / Math.max(1, answered))} µs per poll`);
} finally {
  agent.destroy();
  publisher.close();
  await server.stop();
}
