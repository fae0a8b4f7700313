/*
 * Known-answer program for wait attribution. Thread "ka-holder" flips the protection of a large populated region:
 * mprotect() holds mmap_lock for write while change_protection() walks every PTE. Thread "ka-waiter" meanwhile
 * mmap()s and munmap()s one page in a loop, each needing the write lock, so its waits must name ka-holder (write)
 * as the task holding the lock.
 * Usage: ka_contend [MiB] [flips]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static char *region;
static size_t region_len;
static long flips;
static atomic_int done;
static atomic_long waiter_ops;

/* Holder and waiter on different CPUs, so that the waiter's mmap() really runs while mprotect() holds the lock. */
static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof set, &set);
}

static void *holder(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "ka-holder");
	pin(1);
	while (atomic_load(&waiter_ops) == 0)
		sched_yield();
	for (long i = 0; i < flips; i++) {
		if (mprotect(region, region_len, (i % 2) ? PROT_READ | PROT_WRITE : PROT_READ)) {
			perror("mprotect");
			exit(1);
		}
	}
	atomic_store(&done, 1);
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "ka-waiter");
	pin(0);
	while (!atomic_load(&done)) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
		munmap(p, 4096);
		atomic_fetch_add(&waiter_ops, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	flips = argc > 2 ? atol(argv[2]) : 40;
	region_len = mib << 20;
	region = mmap(NULL, region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap region");
		return 1;
	}
	/* 4K PTEs, a long walk, whatever THP's "enabled" says: advised before the first touch, since a huge page made
	 * by populating first is not split by MADV_NOHUGEPAGE (the guests' THP=always made each flip a 128-PMD walk).
	 * Populated in one call, not page by page: where faults take mmap_lock (6.1), tens of thousands of fault holds
	 * would fill the per-CPU table of longest holds that decides which holds get a stack. */
	madvise(region, region_len, MADV_NOHUGEPAGE);
	if (madvise(region, region_len, MADV_POPULATE_WRITE))
		memset(region, 1, region_len);
	pthread_t h, w;
	pthread_create(&w, NULL, waiter, NULL);
	pthread_create(&h, NULL, holder, NULL);
	pthread_join(h, NULL);
	pthread_join(w, NULL);
	return 0;
}
