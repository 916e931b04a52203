import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The cores a Linux control group lets this process use: its CPU quota (a container's CPU
 * limit: `docker run --cpus 2`, a Kubernetes `limits.cpu`), the smallest over its cgroup and the
 * cgroups above it, rounded down, at least 1; undefined where none is set or none can be read.
 *
 * `--workers auto` takes the fewer of this and `os.availableParallelism()`: Node 20's libuv counts
 * the CPUs the process may be scheduled on, not its quota (libuv 1.49 reads it, Node 20 ships
 * 1.46), so in a container limited to 2 CPUs of a 64-core host `auto` made 64 workers, each with
 * its heap, taking turns on 2 CPUs. The way Rust's `available_parallelism` and libuv 1.49 read
 * it: cgroup v2's `cpu.max` (`<quota> <period>`, or `max`), cgroup v1's `cpu.cfs_quota_us` (-1:
 * none) over `cpu.cfs_period_us`, found through /proc/self/cgroup and /proc/self/mountinfo.
 *
 * `root` stands for `/` (tests give a folder of such files).
 */
export function cgroupCpuQuota(root = '/'): number | undefined {
  const at = (p: string): string => path.join(root, p);
  const cgroups = read(at('proc/self/cgroup'));
  if (cgroups === undefined) return undefined;
  const mounts = read(at('proc/self/mountinfo')) ?? '';
  let quota: number | undefined;
  for (const line of cgroups.split('\n')) {
    // `<id>:<controllers>:<path>`: v2's line is `0::<path>`; a v1 hierarchy with the cpu controller names it.
    const [id, controllers, ...rest] = line.split(':');
    const cgroupPath = rest.join(':');
    if (id === undefined || controllers === undefined || !cgroupPath.startsWith('/')) continue;
    const v2 = id === '0' && controllers === '';
    if (!v2 && !controllers.split(',').includes('cpu')) continue;
    const mount = mountOf(mounts, v2);
    if (mount === undefined) continue;
    const found = v2 ? walk(root, mount, cgroupPath, readV2) : walk(root, mount, cgroupPath, readV1);
    if (found !== undefined) quota = Math.min(quota ?? found, found);
  }
  return quota === undefined ? undefined : Math.max(1, Math.floor(quota));
}

/** Where a hierarchy is mounted, and which of its cgroups is that mount's top (a container sees its own cgroup as `/`). */
interface Mount {
  point: string;
  top: string;
}

/** The mount of the v2 hierarchy, or of the v1 hierarchy holding the cpu controller, from /proc/self/mountinfo. */
function mountOf(mountinfo: string, v2: boolean): Mount | undefined {
  for (const line of mountinfo.split('\n')) {
    // `<id> <parent> <dev> <root> <mount point> <options> [optional fields] - <type> <source> <super options>`
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const f = before.split(' ');
    const [type, , superOptions = ''] = after.split(' ');
    const top = f[3];
    const point = f[4];
    if (top === undefined || point === undefined) continue;
    if (v2 ? type === 'cgroup2' : type === 'cgroup' && superOptions.split(',').includes('cpu')) return { point: unescape(point), top: unescape(top) };
  }
  return undefined;
}

/** mountinfo writes a space, tab, newline or backslash of a path as an octal escape. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The smallest quota from the process's cgroup up to the mount's top, each read by `readQuota`. */
function walk(root: string, mount: Mount, cgroupPath: string, readQuota: (dir: string) => number | undefined): number | undefined {
  // The part of the cgroup's path below the mount's top.
  const below = mount.top === '/' ? cgroupPath : cgroupPath === mount.top ? '/' : cgroupPath.startsWith(`${mount.top}/`) ? cgroupPath.slice(mount.top.length) : undefined;
  if (below === undefined) return undefined;
  let quota: number | undefined;
  let dir = below;
  for (;;) {
    const q = readQuota(path.join(root, mount.point, dir));
    if (q !== undefined) quota = Math.min(quota ?? q, q);
    if (dir === '/' || dir === '') return quota;
    dir = path.posix.dirname(dir);
  }
}

/** cgroup v2: `cpu.max` is `<quota> <period>` in µs, or `max <period>`. */
function readV2(dir: string): number | undefined {
  const [quota, period] = (read(path.join(dir, 'cpu.max')) ?? '').trim().split(/\s+/);
  return ratio(quota, period);
}

/** cgroup v1: `cpu.cfs_quota_us` (-1: none) and `cpu.cfs_period_us`. */
function readV1(dir: string): number | undefined {
  return ratio(read(path.join(dir, 'cpu.cfs_quota_us'))?.trim(), read(path.join(dir, 'cpu.cfs_period_us'))?.trim());
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined || !/^\d+$/.test(quota) || !/^\d+$/.test(period)) return undefined;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
