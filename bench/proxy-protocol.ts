/**
 * `npx tsx bench/proxy-protocol.ts [connections] [rounds]`: what reading a load balancer's PROXY
 * protocol header (`--proxy-protocol`) costs the server per connection. Each round starts the
 * built server twice, without the option and with `--proxy-protocol 127.9.0.0/16` (the clients'
 * addresses: each a "balancer"; the readiness probe of 127.0.0.1 is not), and opens `connections`
 * (default 2000) new connections to each, 50 at a time from 200 loopback addresses: one `GET /healthz` each (a v1 header first for the second
 * server, naming a client of its own), answered, then closed. It prints the server's CPU per
 * connection (user + system, its whole process tree) and the ratio of the two in the same round,
 * then the medians over the rounds (default 3). `npm run build` first.
 */
import net from 'node:net';
import { cpuMsOf, processTree } from './load/proc-stats.js';
import { ServerUnderTest } from './load/server-under-test.js';
import { describeYardstick, measureYardstick } from './load/yardstick.js';

const CONNECTIONS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
const AT_ONCE = 50;

/** One connection from `localAddress`: `head` (a PROXY header, or nothing) and a GET /healthz, its answer read, closed. */
function once(port: number, localAddress: string, head: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => socket.write(`${head}GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (got += d));
    socket.on('error', reject);
    socket.on('close', () => (got.startsWith('HTTP/1.1 200 ') ? resolve() : reject(new Error(`answered ${JSON.stringify(got.slice(0, 40))}`))));
  });
}

/** Server CPU (ms) for CONNECTIONS connections, each with a header when `proxied`. */
async function measure(proxied: boolean): Promise<number> {
  const server = await ServerUnderTest.switchboard(proxied ? ['--proxy-protocol', '127.9.0.0/16'] : []);
  try {
    const pids = processTree(server.child.pid!);
    // Warm-up: the first connections run code for the first time.
    for (let i = 0; i < 200; i++) await once(server.port, `127.9.1.${(i % 200) + 2}`, proxied ? `PROXY TCP4 198.51.100.${i % 250} 10.0.0.1 40000 3000\r\n` : '');
    const before = cpuMsOf(pids);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < CONNECTIONS) {
        const i = next++;
        await once(server.port, `127.9.0.${(i % 200) + 2}`, proxied ? `PROXY TCP4 203.0.${Math.floor(i / 250) % 250}.${i % 250} 10.0.0.1 40000 3000\r\n` : '');
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, lane));
    await new Promise((r) => setTimeout(r, 300));
    return cpuMsOf(pids) - before;
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(describeYardstick(await measureYardstick()));
console.log(`PROXY protocol: server CPU per connection (connect, GET /healthz, close), ${CONNECTIONS} connections, ${AT_ONCE} at a time, ${ROUNDS} rounds`);
const plain: number[] = [];
const proxied: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternated, so that the machine's drift moves both alike.
  const cpu = new Map<boolean, number>();
  for (const withHeader of r % 2 === 0 ? [false, true] : [true, false]) cpu.set(withHeader, await measure(withHeader));
  const without = cpu.get(false)!;
  const withHeader = cpu.get(true)!;
  plain.push((without * 1000) / CONNECTIONS);
  proxied.push((withHeader * 1000) / CONNECTIONS);
  ratios.push(withHeader / without);
  console.log(`  round ${r + 1}: without --proxy-protocol ${plain.at(-1)!.toFixed(0)} µs, with a v1 header ${proxied.at(-1)!.toFixed(0)} µs per connection (×${ratios.at(-1)!.toFixed(2)})`);
}
console.log(`  median: without ${median(plain).toFixed(0)} µs, with ${median(proxied).toFixed(0)} µs per connection; ratio ×${median(ratios).toFixed(2)}`);
