import http from 'node:http';
import { ServerProcess, getJson, openSse, openWs, percentile, sleep } from './lib.js';

/** One fleet of clients of one transport, recording each message's latency (publish time is in the text). */
export interface Fleet {
  latencies: number[];
  received: number;
  requests: number;
  stop(): Promise<void>;
}

function onText(fleet: Fleet, text: string | undefined): void {
  if (text === undefined) return;
  fleet.received++;
  const m = /^lat:([\d.]+)$/.exec(text);
  if (m) fleet.latencies.push(performance.now() - Number(m[1]));
}

/** Opens `n` clients of `transport` on room `bench`, from the current end of the log. */
export async function openFleet(server: ServerProcess, transport: string, n: number, pollIntervalMs: number): Promise<Fleet> {
  const base = `http://127.0.0.1:${server.port}`;
  const fleet: Fleet = { latencies: [], received: 0, requests: 0, stop: async () => {} };
  const agent = new http.Agent({ keepAlive: true, maxSockets: n + 10 });
  const start = await getJson<{ cursor: string }>(`${base}/api/rooms/bench/poll`, agent);
  if (transport === 'websocket') {
    const sockets = await Promise.all(
      Array.from({ length: n }, async () => {
        const ws = await openWs(`ws://127.0.0.1:${server.port}/api/ws?name=f`);
        ws.on('message', (d: Buffer) => {
          const f = JSON.parse(d.toString()) as { type: string; text?: string };
          if (f.type === 'message') onText(fleet, f.text);
        });
        ws.send(JSON.stringify({ type: 'subscribe', room: 'bench', after: start.cursor }));
        return ws;
      }),
    );
    fleet.stop = async () => sockets.forEach((s) => s.terminate());
  } else if (transport === 'sse') {
    const reqs = await Promise.all(
      Array.from({ length: n }, () => {
        let buf = '';
        return openSse(`${base}/api/rooms/bench/events?after=${start.cursor}`, (chunk) => {
          buf += chunk;
          let idx: number;
          while ((idx = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            if (block.includes('event: message')) onText(fleet, (JSON.parse(/data: (.*)/.exec(block)![1]!) as { text?: string }).text);
          }
        });
      }),
    );
    fleet.stop = async () => reqs.forEach((r) => r.destroy());
  } else {
    let running = true;
    const path = transport === 'long-polling' ? 'longpoll' : 'poll';
    const loops = Array.from({ length: n }, async (_, i) => {
      if (transport === 'polling') await sleep((i / n) * pollIntervalMs); // spread the polls out
      let cursor = start.cursor;
      while (running) {
        fleet.requests++;
        const r = await getJson<{ entries: { type: string; text?: string }[]; cursor: string; more: boolean }>(`${base}/api/rooms/bench/${path}?after=${cursor}&timeout=5000`, agent);
        for (const e of r.entries) if (e.type === 'message') onText(fleet, e.text);
        cursor = r.cursor;
        // As the SDK does: when more entries wait than one answer carries, ask again at once.
        if (transport === 'polling' && !r.more) await sleep(pollIntervalMs);
      }
    });
    fleet.stop = async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    };
  }
  await sleep(500);
  return fleet;
}

/** Publishes `count` messages at `rate` per second over HTTP, with the send time in the text. */
export async function publishAtRate(server: ServerProcess, count: number, rate: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    await new Promise<void>((resolve) => {
      const req = http.request(`http://127.0.0.1:${server.port}/api/rooms/bench/messages`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.end(JSON.stringify({ text: `lat:${performance.now()}` }));
    });
  }
  agent.destroy();
}

export interface TransportResult {
  transport: string;
  cpuPerThousand: number;
  p50: number;
  p99: number;
  requests: number;
  complete: boolean;
}

/** The four transports side by side: `n` clients each, `count` messages at `rate`/s. */
export async function compareTransports(server: ServerProcess, n: number, count: number, rate: number, pollIntervalMs: number): Promise<TransportResult[]> {
  const results: TransportResult[] = [];
  for (const transport of ['websocket', 'sse', 'long-polling', 'polling']) {
    const fleet = await openFleet(server, transport, n, pollIntervalMs);
    const before = await server.stats();
    await publishAtRate(server, count, rate);
    const deadline = Date.now() + 2 * pollIntervalMs + 5000;
    while (fleet.received < n * count && Date.now() < deadline) await sleep(20);
    const after = await server.stats();
    await fleet.stop();
    const deliveries = fleet.received;
    results.push({
      transport,
      cpuPerThousand: (after.cpuMicros - before.cpuMicros) / 1000 / (Math.max(1, deliveries) / 1000),
      p50: percentile(fleet.latencies, 50),
      p99: percentile(fleet.latencies, 99),
      requests: fleet.requests,
      complete: deliveries === n * count,
    });
    await sleep(500);
  }
  return results;
}
