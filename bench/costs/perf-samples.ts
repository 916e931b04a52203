import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * Where two server processes spend their CPU over one window, by symbol, from Linux `perf`
 * (COSTS_PERF=1 in costs.ts poll). Node's CPU profiler samples JavaScript from inside V8 and
 * costs each function call something, so it shows a server of many small functions (Socket.IO's)
 * slower than it is, and it sees neither the kernel nor node's C++ (its HTTP parser, its
 * streams' native side) nor V8's builtins and collector by name. `perf` samples the whole
 * process from outside, at a fixed rate, every thread: the sample counts of two servers measured
 * at once compare as their CPU does. The servers run with `--perf-basic-prof` (bench/lib.ts,
 * BENCH_PERF_MAP), which writes /tmp/perf-<pid>.map so that their compiled JavaScript has names.
 */

/** Samples a second per CPU: a prime, so that sampling does not beat with a periodic timer. */
const FREQUENCY = 1999;

/** Says why perf cannot run here, or undefined when it can. */
export function perfUnavailable(): string | undefined {
  const probe = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `perf is not installed (Debian: apt-get install linux-perf): ${probe.error.message}`;
  return probe.status === 0 ? undefined : `perf --version failed: ${probe.stderr.trim()}`;
}

/** A `perf record` of some processes, from start until stop. */
export class PerfRecording {
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly file: string,
    private readonly pids: number[],
  ) {
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(pids: number[], file: string): PerfRecording {
    // cpu-clock: a software event, which a virtual machine without hardware counters has too.
    const child = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-p', pids.join(','), '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new PerfRecording(child, file, pids);
  }

  /** Stops the recording and reads it: each process's samples by symbol. Throws when perf stopped before it was asked to (with what it said). */
  async stop(): Promise<Map<number, ProcessSamples>> {
    // Gone already: it could not record (no such process, no permission to sample it).
    if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`perf record stopped by itself: ${this.stderr.trim() || `exit ${this.child.exitCode}`}`);
    this.child.kill('SIGINT');
    await this.exited;
    try {
      return readSamples(this.file, this.pids);
    } finally {
      rmSync(this.file, { force: true });
    }
  }
}

/** One process's samples: how many in all, by kind of code, and by symbol. */
export interface ProcessSamples {
  total: number;
  /** kernel, JavaScript (compiled by V8, named by the perf map), node (node's binary: its C++, V8's builtins, interpreter and compilers), `GC, minor` and `GC, major` (V8's collectors, in node's binary too), other libraries. */
  byKind: Map<string, number>;
  bySymbol: Map<string, number>;
}

function readSamples(file: string, pids: number[]): Map<number, ProcessSamples> {
  const script = spawnSync('perf', ['script', '-i', file, '-F', 'pid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr.trim()}`);
  const out = new Map<number, ProcessSamples>(pids.map((pid) => [pid, { total: 0, byKind: new Map(), bySymbol: new Map() }]));
  // `  1234      7f00c0ffee JS:*answer file:///…/session.js:911:11 (/tmp/perf-1234.map)`
  const line = /^\s*(\d+)\s+[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)$/;
  for (const text of script.stdout.split('\n')) {
    const m = line.exec(text);
    if (!m) continue;
    const samples = out.get(Number(m[1]));
    if (!samples) continue;
    const dso = m[3]!;
    const kind = dso.includes('kernel') ? 'kernel' : dso.startsWith('/tmp/perf-') ? 'JavaScript' : dso.endsWith('/node') ? collectorKind(m[2]!) : 'other libraries';
    const symbol = `${kind === 'kernel' ? '[k] ' : ''}${m[2]!.replace(/\+0x[0-9a-f]+$/, '').replace(/(?:file:\/\/)?\/\S*?\/(dist|node_modules|bench)\//, '$1/') || '[unknown]'}`;
    samples.total++;
    samples.byKind.set(kind, (samples.byKind.get(kind) ?? 0) + 1);
    samples.bySymbol.set(symbol, (samples.bySymbol.get(symbol) ?? 0) + 1);
  }
  return out;
}

/** V8's young-generation collector (scavenges) in node's binary, by symbol. */
const MINOR_GC = /Scaveng|ShouldBePromoted|Pretenuring|PromotedObjects/;
/** V8's old-generation collector: marking (concurrent, on helper threads, most of it), sweeping, compaction. */
const MAJOR_GC = /Marking|MarkCompact|Sweep|MemoryChunkData|Evacuat|Compactor/;

/** The kind of a symbol of node's binary: one of V8's two collectors, or the rest of node (its C++, V8's builtins, interpreter and compilers). */
function collectorKind(symbol: string): string {
  return MINOR_GC.test(symbol) ? 'GC, minor' : MAJOR_GC.test(symbol) ? 'GC, major' : 'node';
}

/**
 * Prints two processes' samples side by side: the totals, by kind of code, then the symbols
 * where they differ most (`top` each way), as samples per 1,000 requests answered so that two
 * servers that answered different counts compare.
 */
export function printComparison(names: [string, string], samples: [ProcessSamples, ProcessSamples], requests: [number, number], top = 25): void {
  const per = (n: number, i: number): number => (n * 1000) / Math.max(1, requests[i]!);
  const f = (x: number): string => x.toFixed(1).padStart(7);
  const [a, b] = samples;
  console.log(`    perf samples per 1,000 requests answered (${FREQUENCY} a second): ${names[0]} ${f(per(a.total, 0)).trim()}, ${names[1]} ${f(per(b.total, 1)).trim()}`);
  for (const kind of ['JavaScript', 'node', 'GC, minor', 'GC, major', 'kernel', 'other libraries']) {
    console.log(`      ${kind.padEnd(16)} ${f(per(a.byKind.get(kind) ?? 0, 0))} ${f(per(b.byKind.get(kind) ?? 0, 1))}`);
  }
  const symbols = new Set([...a.bySymbol.keys(), ...b.bySymbol.keys()]);
  const diffs = [...symbols].map((s) => ({ s, a: per(a.bySymbol.get(s) ?? 0, 0), b: per(b.bySymbol.get(s) ?? 0, 1) })).map((d) => ({ ...d, d: d.a - d.b }));
  console.log(`      where ${names[0]} spends more (${names[0]}, ${names[1]}, difference):`);
  for (const d of diffs.filter((x) => x.d > 0).sort((x, y) => y.d - x.d).slice(0, top)) console.log(`      ${f(d.a)} ${f(d.b)} ${f(d.d)}  ${d.s.slice(0, 140)}`);
  console.log(`      where ${names[1]} spends more:`);
  for (const d of diffs.filter((x) => x.d < 0).sort((x, y) => x.d - y.d).slice(0, top)) console.log(`      ${f(d.a)} ${f(d.b)} ${f(d.d)}  ${d.s.slice(0, 140)}`);
}

/** Removes the perf maps of `pids` (each server's /tmp/perf-<pid>.map, written by --perf-basic-prof). */
export function removePerfMaps(pids: number[]): void {
  for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
