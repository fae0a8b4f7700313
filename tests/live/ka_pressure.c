/*
 * Known-answer program for global direct reclaim, for throwaway guests only: it takes nearly all of the machine's
 * memory. Anonymous memory (no swap: unreclaimable) fills all but HEADROOM MiB of MemAvailable; three quarters of the
 * rest is written and then given back with MADV_FREE (clean lazily-freed pages, which reclaim drops without swap or
 * disk); then more anonymous memory is faulted in, 16 MiB at a time, until /proc/vmstat's allocstall counters show
 * that the allocator entered direct reclaim. vm.watermark_scale_factor is set to its minimum meanwhile (and restored
 * on exit, also after SIGINT/SIGTERM): with min, low and high watermarks close together, kswapd wakes when the
 * allocator is already at the min watermark, so the allocator reclaims itself. The guard, three quarters of the
 * headroom more, still fits once half the lazily-freed pages are gone. Exits 0 once direct reclaim happened, 3 if it
 * did not by the guard.
 * Usage: ka_pressure [HEADROOM_MiB]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *kScale = "/proc/sys/vm/watermark_scale_factor";
static char saved_scale[32];

static long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = atol(line + n + 1);
	fclose(f);
	return v;
}

/* Direct reclaim entries since boot, all zones. */
static long allocstalls(void)
{
	char key[64];
	long v, sum = 0;
	FILE *f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strncmp(key, "allocstall_", 11))
			sum += v;
	fclose(f);
	return sum;
}

static int write_scale(const char *v)
{
	FILE *f = fopen(kScale, "w");
	if (!f)
		return -1;
	int ok = fputs(v, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void restore(void)
{
	if (saved_scale[0])
		write_scale(saved_scale);
	saved_scale[0] = 0;
}

static void on_signal(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static char *populate(long mib)
{
	char *p = mmap(NULL, (size_t)mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	long headroom = argc > 1 ? atol(argv[1]) : 256;
	long avail = meminfo_kb("MemAvailable") >> 10;
	if (avail <= 2 * headroom) {
		fprintf(stderr, "ka_pressure: only %ld MiB available\n", avail);
		return 2;
	}
	FILE *f = fopen(kScale, "r");
	if (!f || !fgets(saved_scale, sizeof saved_scale, f)) {
		perror(kScale);
		return 2;
	}
	fclose(f);
	atexit(restore);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (write_scale("1\n")) {
		perror(kScale);
		return 2;
	}
	long lazy = headroom * 3 / 4;
	char *l;
	if (!populate(avail - headroom) || !(l = populate(lazy))) {
		perror("mmap");
		return 2;
	}
	memset(l, 1, (size_t)lazy << 20);
	if (madvise(l, (size_t)lazy << 20, MADV_FREE)) {
		perror("madvise(MADV_FREE)");
		return 2;
	}
	long before = allocstalls(), step = 16, guard = headroom * 3 / 4;
	for (long mib = 0; mib < guard; mib += step) {
		if (!populate(step)) {
			perror("mmap");
			return 2;
		}
		if (allocstalls() > before) {
			printf("ka_pressure: direct reclaim within %ld MiB more\n", mib + step);
			return 0;
		}
	}
	fprintf(stderr, "ka_pressure: no direct reclaim in %ld MiB more\n", guard);
	return 3;
}
