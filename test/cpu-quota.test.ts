/**
 * `--workers auto` under a container's CPU limit: cgroupCpuQuota reads the quota of the
 * process's cgroup and of those above it (cgroup v2's cpu.max, v1's cpu.cfs_quota_us), from
 * folders laid out as /proc and /sys/fs/cgroup are.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../src/server/options.js';
import { cgroupCpuQuota } from '../src/server/workers/cpu-quota.js';

/** A fake root: `files` (path → content) written under it. */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'sb-cgroup-'));
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return root;
}

const V2_MOUNT = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
const V1_MOUNTS =
  '25 24 0:22 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,memory\n' +
  '26 24 0:23 /kubepods/pod1 /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n';

describe('cgroupCpuQuota (--workers auto in a container)', () => {
  it("cgroup v2: the smallest cpu.max from the process's cgroup up to the top, rounded down, at least 1; `max` is none", () => {
    const roots = [
      fakeRoot({ 'proc/self/cgroup': '0::/app.slice/web\n', 'proc/self/mountinfo': V2_MOUNT, 'sys/fs/cgroup/app.slice/web/cpu.max': '250000 100000\n', 'sys/fs/cgroup/app.slice/cpu.max': 'max 100000\n' }),
      fakeRoot({ 'proc/self/cgroup': '0::/app.slice/web\n', 'proc/self/mountinfo': V2_MOUNT, 'sys/fs/cgroup/app.slice/web/cpu.max': 'max 100000\n', 'sys/fs/cgroup/app.slice/cpu.max': '300000 100000\n' }),
      fakeRoot({ 'proc/self/cgroup': '0::/\n', 'proc/self/mountinfo': V2_MOUNT, 'sys/fs/cgroup/cpu.max': '50000 100000\n' }),
      fakeRoot({ 'proc/self/cgroup': '0::/a\n', 'proc/self/mountinfo': V2_MOUNT, 'sys/fs/cgroup/a/cpu.max': 'max 100000\n' }),
    ];
    try {
      assert.deepEqual(
        roots.map((r) => cgroupCpuQuota(r)),
        [2, 3, 1, undefined],
      );
    } finally {
      for (const r of roots) rmSync(r, { recursive: true, force: true });
    }
  });

  it("cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us of the cpu hierarchy, under its mount's top (a container sees its own cgroup as the mount's root); -1 is none", () => {
    const limited = fakeRoot({
      'proc/self/cgroup': '5:memory:/kubepods/pod1/c1\n4:cpu,cpuacct:/kubepods/pod1/c1\n',
      'proc/self/mountinfo': V1_MOUNTS,
      // The mount's top is /kubepods/pod1: the process's cgroup c1 is /c1 below it.
      'sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_quota_us': '400000\n',
      'sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_period_us': '100000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '150000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    const none = fakeRoot({
      'proc/self/cgroup': '4:cpu,cpuacct:/\n',
      'proc/self/mountinfo': V1_MOUNTS.replace('/kubepods/pod1 /sys', '/ /sys'),
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    try {
      assert.equal(cgroupCpuQuota(limited), 1);
      assert.equal(cgroupCpuQuota(none), undefined);
    } finally {
      rmSync(limited, { recursive: true, force: true });
      rmSync(none, { recursive: true, force: true });
    }
  });

  it('nothing to read (not Linux, no cgroup files, garbage) is no quota; --workers auto is never more than the cores node sees', () => {
    const garbage = fakeRoot({ 'proc/self/cgroup': 'nonsense\n0::relative\n', 'proc/self/mountinfo': 'x - y\n' });
    const empty = mkdtempSync(path.join(tmpdir(), 'sb-cgroup-'));
    try {
      assert.equal(cgroupCpuQuota(garbage), undefined);
      assert.equal(cgroupCpuQuota(empty), undefined);
    } finally {
      rmSync(garbage, { recursive: true, force: true });
      rmSync(empty, { recursive: true, force: true });
    }
    const auto = resolveConfig({ env: { WORKERS: 'auto' } }).workers;
    assert.ok(auto >= 1 && auto <= availableParallelism(), `auto is ${auto}`);
    assert.equal(auto, Math.min(availableParallelism(), cgroupCpuQuota() ?? Number.POSITIVE_INFINITY));
  });
});
