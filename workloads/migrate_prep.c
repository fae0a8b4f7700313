/*
 * migrate-prep (seed 000): "mm: move migrate_prep out from under mmap_sem". Helper threads fault pages on every
 * other CPU, so each CPU keeps pages in its per-CPU LRU batch; the main thread loops over mbind(MPOL_MF_MOVE),
 * migrate_pages(2) and move_pages(2). Each calls lru_add_drain_all() (today lru_cache_disable()), which queues
 * lru_add_drain_per_cpu on the CPUs with pending pages and waits for them: the invariant is that this happens
 * before mmap_lock is taken. Works on one NUMA node (everything targets node 0).
 */
#define _GNU_SOURCE
#include <linux/mempolicy.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common.h"

static void usage(void)
{
	printf("usage: migrate-prep [--rounds N] [--stats FILE]\n"
	       "  --rounds N    rounds of mbind + migrate_pages + move_pages (default 20)\n"
	       "  --lockstep    before each call, every helper faults exactly one page and waits: every call then\n"
	       "                finds pages to drain on each other CPU (for comparing runs call by call)\n"
	       "  --stats FILE  write the workload's own figures as JSON\n");
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static int lockstep;
static atomic_int generation, acked;

/* 4K pages only: a huge page goes onto the LRU at once (folio_add_lru flushes large folios), leaving nothing to drain. */
static char *small_pages(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void *faulter(void *arg)
{
	pin((int)(long)arg);
	size_t len = 4 << 20;
	if (lockstep) {
		/* One fresh page per generation: the CPU's LRU batch then holds it until the next drain empties it. */
		char *p = small_pages(len);
		size_t off = 0;
		int seen = 0;
		while (!atomic_load(&wl_stop) && p != MAP_FAILED) {
			int g = atomic_load(&generation);
			if (g == seen) {
				usleep(50);
				continue;
			}
			if (off == len) {
				madvise(p, len, MADV_DONTNEED);
				off = 0;
			}
			p[off] = 1;
			off += 4096;
			seen = g;
			atomic_fetch_add(&acked, 1);
		}
		return NULL;
	}
	while (!atomic_load(&wl_stop)) {
		char *p = small_pages(len);
		if (p == MAP_FAILED)
			continue;
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		munmap(p, len);
	}
	return NULL;
}

/* The caller's own fresh pages (lockstep): one per call, on the caller's CPU. */
static char *own_pages;
static size_t own_off;

/* Before each call: let the helpers refill their CPUs' LRU batches. In lockstep the caller also faults a page of its
 * own, so every call queues a work for the caller's CPU first (works are queued in CPU order): a call's works then
 * never run on into the next call's, which is how inference tells calls apart. */
static void refill(int nthreads)
{
	if (!lockstep) {
		usleep(2000);
		return;
	}
	atomic_store(&acked, 0);
	atomic_fetch_add(&generation, 1);
	while (atomic_load(&acked) < nthreads && !atomic_load(&wl_stop))
		usleep(50);
	size_t len = 4 << 20;
	if (!own_pages)
		own_pages = small_pages(len);
	if (own_pages == MAP_FAILED)
		return;
	if (own_off == len) {
		madvise(own_pages, len, MADV_DONTNEED);
		own_off = 0;
	}
	own_pages[own_off] = 1;
	own_off += 4096;
}

int main(int argc, char **argv)
{
	int rounds = 20;
	const char *stats = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--lockstep"))
			lockstep = 1;
		else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
			stats = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	wl_handle_signals();
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	pin(0);
	pthread_t threads[64];
	int nthreads = 0;
	for (int c = 1; c < ncpu && nthreads < 64; c++)
		pthread_create(&threads[nthreads++], NULL, faulter, (void *)(long)c);

	size_t len = 64 * 4096;
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 1, len);
	unsigned long node0 = 1;
	void *pages[1] = {buf};
	int nodes[1] = {0}, status[1];
	long calls[3] = {0, 0, 0};
	for (int i = 0; i < rounds && !atomic_load(&wl_stop); i++) {
		refill(nthreads);
		if (syscall(SYS_mbind, buf, len, MPOL_BIND, &node0, 8 * sizeof node0, MPOL_MF_MOVE) == 0)
			calls[0]++;
		refill(nthreads);
		if (syscall(SYS_migrate_pages, 0, 8 * sizeof node0, &node0, &node0) >= 0)
			calls[1]++;
		refill(nthreads);
		if (syscall(SYS_move_pages, 0, 1, pages, nodes, status, MPOL_MF_MOVE) >= 0)
			calls[2]++;
	}
	atomic_store(&wl_stop, 1);
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	if (stats) {
		FILE *f = fopen(stats, "w");
		if (f) {
			fprintf(f, "{\"mbind_calls\": %ld, \"migrate_pages_calls\": %ld, \"move_pages_calls\": %ld, \"cpus\": %d}\n",
				calls[0], calls[1], calls[2], ncpu);
			fclose(f);
		}
	}
	return 0;
}
