import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startServer } from './helpers.js';

/** The backlog of the socket listening on `port`, as the kernel reports it (`ss`: Send-Q of a listener). */
function backlogOf(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim().split('\n')[0]!;
  return Number(line.split(/\s+/)[2]);
}

describe('the listen backlog (--listen-backlog)', () => {
  it("is 4096 by default (node's is 511: a burst past it drops SYNs, and each of those clients waits a second), capped by the kernel", async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const s = await startServer();
    try {
      assert.equal(backlogOf(s.port), Math.min(4096, somaxconn));
    } finally {
      await s.server.close();
    }
  });

  it('is what the option says', async () => {
    const s = await startServer({ listenBacklog: 37 });
    try {
      assert.equal(backlogOf(s.port), 37);
    } finally {
      await s.server.close();
    }
  });
});
