/*
 * A disk whose syncs take time, for benchmarks on a machine whose disk acknowledges them at once
 * (a VM's cache): preloaded (LD_PRELOAD), every fsync and fdatasync of the process sleeps
 * SLOW_SYNC_US microseconds (default 2000, a cloud block device's order) before the real call.
 * bench/read-positions.ts builds it with the machine's gcc when BENCH_SYNC_US is set.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
static void pause_(void) {
  const char *us = getenv("SLOW_SYNC_US");
  long n = us ? atol(us) : 2000;
  struct timespec t = { n / 1000000, (n % 1000000) * 1000 };
  nanosleep(&t, 0);
}
int fsync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fsync"); pause_(); return real(fd); }
int fdatasync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fdatasync"); pause_(); return real(fd); }
