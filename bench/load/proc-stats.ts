import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** user + system time, in ticks. */
  ticks: number;
  /** system time alone (the kernel's work for the process: its sockets' reads and writes...), in ticks. */
  systemTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), systemTicks: Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** `root` and every process below it (workers, their children), read from /proc now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Resident memory of these processes together, bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb * 1024;
}

/**
 * The resident memory of these processes together, in its two parts (RssAnon and RssFile of
 * /proc/<pid>/status), bytes: anonymous (each process's own: heaps, buffers) and file-backed
 * (mapped files: node's own binary above all, some 40 MB of code and read-only data in each node
 * process). The file-backed pages of one file are the same pages in every process that maps
 * it, which RSS counts once per process.
 */
export function rssPartsOf(pids: readonly number[]): { anon: number; file: number } {
  let anon = 0;
  let file = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/status`, 'utf8');
      anon += Number(/RssAnon:\s+(\d+) kB/.exec(text)?.[1] ?? 0);
      file += Number(/RssFile:\s+(\d+) kB/.exec(text)?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return { anon: anon * 1024, file: file * 1024 };
}

/** CPU time (user + system) these processes used so far, ms. A process gone meanwhile counts 0. */
export function cpuMsOf(pids: readonly number[]): number {
  return msOf(pids, (s) => s.ticks);
}

/** System CPU time (the kernel's, on their behalf) these processes used so far, ms. */
export function systemMsOf(pids: readonly number[]): number {
  return msOf(pids, (s) => s.systemTicks);
}

function msOf(pids: readonly number[], ticksOf: (s: ProcStat) => number): number {
  let ticks = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) ticks += ticksOf(s);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}
