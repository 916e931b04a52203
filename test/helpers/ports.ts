import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Where the kernel's ephemeral range starts: below it, no outgoing connection is ever given a local port. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const LOWEST = 10_000;

/** Listens on `port` (0: the kernel's choice) of 127.0.0.1 and closes again: the port, or undefined when it is taken. */
async function tryPort(port: number): Promise<number | undefined> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const got = (server.address() as { port: number }).port;
      server.close(() => resolve(got));
    });
  });
}

/**
 * A port of 127.0.0.1 nothing listens on right now, for a process a test starts (a redis-server,
 * a sentinel, a Switchboard). Drawn at random below the kernel's ephemeral range, not with
 * `listen(0)`: a port of that range can become the local end of another test file's outgoing
 * connection between the draw and the process's start (CI once saw a sentinel that could not
 * bind, and the test asked its port's other owner, a plain redis-server, for `SENTINEL`), and
 * `listen(0)` hands concurrent test files neighbouring ports. A draw can still collide with
 * another file's draw: callers that can tell (a redis-server's `process_id`) start again on
 * another port.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let i = 0; ; i++) {
    const port = high - LOWEST > 1_000 && i < 100 ? LOWEST + Math.floor(Math.random() * (high - LOWEST)) : 0;
    const got = await tryPort(port);
    if (got !== undefined) return got;
  }
}
