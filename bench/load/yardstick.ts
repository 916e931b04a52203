import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { median } from '../lib.js';

/**
 * How fast this machine is, measured the same way on every machine, before a scale bench runs:
 * its absolute figures (connections a second, a broadcast's p99) move with the machine, by two
 * times between two machines of this kind, while ratios within one run do not. With it, runs of
 * different days can be put side by side: one whose yardstick took twice as long likely ran on a
 * machine about half as fast. A hint, not a correction: it is itself a second's sample of a
 * shared machine (on 2026-12-04 one run read 1.6 times slow while its figures were as usual).
 * Lower is faster.
 */
export interface Yardstick {
  cpu: string;
  cores: number;
  /** Median ms of JSON_ROUNDS JSON round trips of a chat message entry: the JavaScript a delivery runs. */
  jsMs: number;
  /** Median ms of LOOPBACK_ROUNDS request/answer round trips on one loopback TCP connection: the kernel's and libuv's part of a delivery. */
  loopbackMs: number;
}

const JSON_ROUNDS = 20_000;
const LOOPBACK_ROUNDS = 2_000;
/** Each measure is taken this many times; the median is kept (the machine is shared and noisy). */
const TIMES = 5;

let measured: Yardstick | undefined;

/** The yardstick measured last in this process, if any (saveResult records it with the result). */
export function lastYardstick(): Yardstick | undefined {
  return measured;
}

/** Measures the yardstick (about a second) and keeps it for lastYardstick. */
export async function measureYardstick(): Promise<Yardstick> {
  const js: number[] = [];
  const loopback: number[] = [];
  for (let i = 0; i < TIMES; i++) {
    js.push(jsRounds());
    loopback.push(await loopbackRounds());
  }
  measured = { cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU', cores: os.availableParallelism(), jsMs: median(js), loopbackMs: median(loopback) };
  return measured;
}

/** One line for a bench's output. */
export function describeYardstick(y: Yardstick): string {
  return `machine: ${y.cpu}, ${y.cores} cores; yardstick (medians of ${TIMES}, lower is faster): ${JSON_ROUNDS.toLocaleString('en-US')} JSON round trips of a message ${y.jsMs.toFixed(1)} ms, ${LOOPBACK_ROUNDS.toLocaleString('en-US')} loopback TCP round trips ${y.loopbackMs.toFixed(1)} ms`;
}

function jsRounds(): number {
  const entry = { type: 'message', room: 'lobby', seq: 1, ts: Date.now(), from: { id: 'c1a2b3c4', name: 'ada', member: 'ada' }, text: 'hello, everyone in the room', clientId: 'k9x8y7' };
  let keep = 0;
  const start = performance.now();
  for (let i = 0; i < JSON_ROUNDS; i++) {
    entry.seq = i;
    keep += (JSON.parse(JSON.stringify(entry)) as { seq: number }).seq;
  }
  const ms = performance.now() - start;
  if (keep < 0) throw new Error('unreachable'); // the loop's result is used
  return ms;
}

/** LOOPBACK_ROUNDS ping-pongs of 64 bytes between a client and an echoing server in this process. */
async function loopbackRounds(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect({ host: '127.0.0.1', port });
  client.setNoDelay(true);
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const ping = Buffer.alloc(64, 1);
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    let rounds = 0;
    let got = 0;
    client.on('error', reject);
    client.on('data', (d: Buffer) => {
      got += d.length;
      if (got < ping.length) return;
      got -= ping.length;
      if (++rounds === LOOPBACK_ROUNDS) resolve();
      else client.write(ping);
    });
    client.write(ping);
  });
  const ms = performance.now() - start;
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return ms;
}
