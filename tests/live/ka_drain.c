/*
 * Known-answer program for LRU drains. A helper thread pinned to another CPU keeps faulting fresh pages, so that CPU
 * always has pages waiting in its per-CPU LRU batches; the main thread (pinned to CPU 0) calls mbind(MPOL_MF_MOVE),
 * migrate_pages(2) and move_pages(2). Each of these calls lru_cache_disable(), which queues lru_add_drain_per_cpu on
 * every CPU with pending pages; since the migrate_prep fix that happens before mmap_lock is taken, so the drains must
 * be reported as issued without mmap_lock. Works on one NUMA node (everything targets node 0).
 * Usage: ka_drain [ROUNDS]
 */
#define _GNU_SOURCE
#include <linux/mempolicy.h> /* MPOL_*: no libnuma needed, the syscalls are called directly */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int stop;

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof set, &set);
}

static void *faulter(void *arg)
{
	(void)arg;
	pin(1);
	size_t len = 4 << 20;
	while (!atomic_load(&stop)) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		for (size_t off = 0; off < len; off += 4096)
			p[off] = 1;
		munmap(p, len);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	pin(0);
	pthread_t t;
	pthread_create(&t, NULL, faulter, NULL);
	size_t len = 64 * 4096;
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 1, len);
	unsigned long node0 = 1;
	void *pages[1] = {buf};
	int nodes[1] = {0}, status[1];
	for (int i = 0; i < rounds; i++) {
		usleep(2000); /* let the faulter refill its CPU's LRU batch */
		if (syscall(SYS_mbind, buf, len, MPOL_BIND, &node0, 8 * sizeof node0, MPOL_MF_MOVE))
			perror("mbind");
		usleep(2000);
		if (syscall(SYS_migrate_pages, 0, 8 * sizeof node0, &node0, &node0) < 0)
			perror("migrate_pages");
		usleep(2000);
		if (syscall(SYS_move_pages, 0, 1, pages, nodes, status, MPOL_MF_MOVE) < 0)
			perror("move_pages");
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	return 0;
}
