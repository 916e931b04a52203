import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import vm from 'node:vm';
import { writeReport } from '../bench/report.js';

describe('the benchmark report (npm run bench -- --report)', () => {
  it('is a page whose scripts parse, whatever results there are', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-report-'));
    try {
      const html = readFileSync(writeReport(path.join(dir, 'report.html')), 'utf8');
      const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
      assert.equal(scripts.length, 2, 'Chart.js and the page script');
      // A quote or a TypeScript-only token in the page script breaks every chart of the page.
      for (const code of scripts) assert.doesNotThrow(() => new vm.Script(code), 'a script of the report does not parse');
      const data = /<script id="data" type="application\/json">([\s\S]*?)<\/script>/.exec(html);
      assert.ok(data);
      assert.ok(Array.isArray(JSON.parse(data[1]!)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the machine's yardstick (bench/load/yardstick.ts)", () => {
  it('measures the same two things on every machine, and the scale benches keep the last one with their results', async () => {
    const { describeYardstick, lastYardstick, measureYardstick } = await import('../bench/load/yardstick.js');
    const y = await measureYardstick();
    assert.ok(y.jsMs > 0 && Number.isFinite(y.jsMs), `JS rounds took ${y.jsMs} ms`);
    assert.ok(y.loopbackMs > 0 && Number.isFinite(y.loopbackMs), `loopback rounds took ${y.loopbackMs} ms`);
    assert.ok(y.cores >= 1 && y.cpu.length > 0);
    assert.equal(lastYardstick(), y, 'saveResult records the last one measured');
    assert.match(describeYardstick(y), /^machine: .+, \d+ cores; yardstick .+ JSON round trips .+ ms, .+ loopback TCP round trips .+ ms$/);
  });
});
