import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

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

function readStat(pid: number, file = `/proc/${pid}/stat`): ProcStat | undefined {
  try {
    const text = readFileSync(file, 'utf8');
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
  return statusKb(pids, /VmRSS:\s+(\d+) kB/) * 1024;
}

/**
 * The file-backed part of rssOf (RssFile of /proc/<pid>/status), bytes: mapped files, node's own
 * binary above all (some 40 MB of code and read-only data in each node process). The pages of
 * one file are the same in every process that maps it, which a sum of RSS counts in each.
 */
export function rssFileOf(pids: readonly number[]): number {
  return statusKb(pids, /RssFile:\s+(\d+) kB/) * 1024;
}

/** The sum of one kB field of /proc/<pid>/status over these processes (one gone meanwhile counts 0). */
function statusKb(pids: readonly number[], field: RegExp): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = field.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb;
}

/** CPU time (user + system) these processes used so far, ms. A process gone meanwhile counts 0. */
export function cpuMsOf(pids: readonly number[]): number {
  return msOf(pids, (s) => s.ticks);
}

/** System CPU time (the kernel's, on their behalf) these processes used so far, ms. */
export function systemMsOf(pids: readonly number[]): number {
  return msOf(pids, (s) => s.systemTicks);
}

/**
 * CPU time (user + system) of these processes' main threads, and of their other threads, used so
 * far, ms. The others are V8's helpers (concurrent marking and sweeping of major collections, the
 * optimizing compiler) and libuv's pool (SQLite's syncs, file reads): what a collector's pauses
 * and a CPU profile of the main thread do not show (a major collection marks the heap on a helper
 * thread while the main thread runs). Threads that ended meanwhile are not counted (/proc keeps
 * no record of them); a process gone counts 0.
 */
export function threadMsOf(pids: readonly number[]): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tasks) {
      const s = readStat(Number(tid), `/proc/${pid}/task/${tid}/stat`);
      if (!s) continue;
      if (tid === String(pid)) main += s.ticks;
      else others += s.ticks;
    }
  }
  return { main: (main * 1000) / TICKS_PER_SECOND, others: (others * 1000) / TICKS_PER_SECOND };
}

function msOf(pids: readonly number[], ticksOf: (s: ProcStat) => number): number {
  let ticks = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) ticks += ticksOf(s);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** TCP socket states as /proc/net/tcp writes them. */
const TCP_STATES = { established: '01', listen: '0A' } as const;

/**
 * How many TCP sockets on local `port`, in `state`, each of `pids` holds (the kernel's tables,
 * /proc/net/tcp and tcp6, matched to each process's sockets by inode): how the clients are spread
 * over a server's workers (`established`), or which processes listen (`listen`).
 */
export function socketsOn(port: number, pids: readonly number[], state: keyof typeof TCP_STATES = 'established'): number[] {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; st is the state; the inode is the tenth field.
      if (f.length > 9 && parseInt(f[1]!.split(':')[1]!, 16) === port && f[3] === TCP_STATES[state]) inodes.add(f[9]!);
    }
  }
  return pids.map((pid) => {
    let n = 0;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '')) n++;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // the process is gone
    }
    return n;
  });
}
