/*
 * The benchmark's lock-heavy workload: each thread loops over mmap, touching every page (page faults), mprotect and
 * munmap of a private anonymous region, so mmap_lock is taken for write (mmap, mprotect, munmap) and for read (faults
 * that fall back from per-VMA locks) at a high rate. Prints the operations completed and the rate.
 * Usage: lockbench [--threads N] [--seconds S] [--kib K]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
static atomic_ullong ops;
static size_t region = 64 << 10;

static void *loop(void *arg)
{
	(void)arg;
	unsigned long long n = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		char *p = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		for (size_t off = 0; off < region; off += 4096)
			p[off] = 1;
		mprotect(p, region / 2, PROT_READ);
		munmap(p, region);
		n++;
	}
	atomic_fetch_add(&ops, n);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 2;
	double seconds = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--kib") && i + 1 < argc)
			region = (size_t)atol(argv[++i]) << 10;
		else {
			printf("usage: lockbench [--threads N] [--seconds S] [--kib K]\n");
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (threads < 1 || threads > 256 || seconds <= 0 || region < 4096)
		return 2;
	pthread_t t[256];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, loop, NULL);
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double el = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("ops %llu seconds %.3f rate %.1f\n", (unsigned long long)atomic_load(&ops), el, atomic_load(&ops) / el);
	return 0;
}
