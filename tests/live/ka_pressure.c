/*
 * Known-answer program for global direct reclaim, for throwaway guests only: it takes nearly all of the machine's
 * memory. Anonymous memory (no swap: unreclaimable) fills all but HEADROOM MiB of MemAvailable; three quarters of the
 * rest is written and then given back with MADV_FREE (clean lazily-freed pages, which reclaim drops without swap or
 * disk); then one SCHED_FIFO thread per CPU faults more anonymous memory in, 8 MiB at a time, until /proc/vmstat's
 * allocstall counters show that the allocator entered direct reclaim. The real-time threads leave kswapd no CPU (but
 * the 5% that RT throttling keeps for others), so it cannot free pages ahead of them: they reclaim themselves once
 * the free pages (a quarter of the headroom, plus the watermark reserves MemAvailable leaves out: about 100 MiB on a
 * 2 GiB guest) are used, well before the guard (the headroom more, which still fits with a third of the lazily-freed
 * pages left).
 * Exits 0 once direct reclaim happened, 3 if it did not by the guard.
 * Usage: ka_pressure [HEADROOM_MiB]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

static char *populate(long mib)
{
	char *p = mmap(NULL, (size_t)mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static const long kStepMib = 8;
static long stalls_before, guard_mib;
static atomic_long taken_mib;
static atomic_int reclaimed, failed;

static void *faulter(void *arg)
{
	(void)arg;
	struct sched_param sp = {.sched_priority = 1};
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0)
		atomic_store(&failed, 1);
	while (!atomic_load(&reclaimed) && !atomic_load(&failed)) {
		if (atomic_fetch_add(&taken_mib, kStepMib) >= guard_mib)
			break;
		if (!populate(kStepMib)) {
			atomic_store(&failed, 1);
			break;
		}
		if (allocstalls() > stalls_before)
			atomic_store(&reclaimed, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long headroom = argc > 1 ? atol(argv[1]) : 384;
	long avail = meminfo_kb("MemAvailable") >> 10;
	if (avail <= 2 * headroom) {
		fprintf(stderr, "ka_pressure: only %ld MiB available\n", avail);
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
	stalls_before = allocstalls();
	guard_mib = headroom;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t t[64];
	int n = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, faulter, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	if (atomic_load(&failed)) {
		fprintf(stderr, "ka_pressure: a faulting thread failed (SCHED_FIFO refused, or mmap)\n");
		return 2;
	}
	if (atomic_load(&reclaimed)) {
		printf("ka_pressure: direct reclaim within %ld MiB more\n", atomic_load(&taken_mib));
		return 0;
	}
	fprintf(stderr, "ka_pressure: no direct reclaim in %ld MiB more\n", guard_mib);
	return 3;
}
