/*
 * Known-answer program for NUMA-balancing migrations (the cross-check with BCC's numamove), for a guest with two
 * nodes and automatic NUMA balancing switched on by the caller. It writes MIB MiB of anonymous memory (no huge pages)
 * from a CPU of node 0, so the pages are node 0's; then drains every CPU's LRU caches (migrate_pages(2) from node 1 to
 * node 0: nothing of ours is on node 1, but the call drains them first), because a page still in a per-CPU cache is
 * not on the LRU, cannot be isolated, and its migration attempt would then allocate nothing; then moves itself to a
 * CPU of node 1 and reads and writes the region until every page of it is on node 1 (NUMA balancing's hinting faults
 * migrate each page on the second fault from the same node). Everything it touches is touched before the drain.
 * Prints the pages that moved and exits 0; exits 3 if they had not all moved by the guard.
 * Usage: ka_numa MIB
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { kGuardSeconds = 600 };

/* The first CPU of a node, from sysfs ("0-1", "1", "0,2"). */
static int first_cpu(int node)
{
	char path[96];
	int cpu = -1;
	snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", node);
	FILE *f = fopen(path, "r");
	if (!f || fscanf(f, "%d", &cpu) != 1)
		cpu = -1;
	if (f)
		fclose(f);
	return cpu;
}

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 16;
	long page = sysconf(_SC_PAGESIZE);
	long n = mib * (1024 * 1024 / page);
	int cpu0 = first_cpu(0), cpu1 = first_cpu(1);
	if (mib <= 0 || cpu0 < 0 || cpu1 < 0 || pin(cpu0) != 0) {
		fprintf(stderr, "ka_numa: needs a CPU on node 0 and one on node 1\n");
		return 2;
	}
	char *region = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **pages = calloc(n, sizeof *pages);
	int *status = calloc(n, sizeof *status);
	if (region == MAP_FAILED || !pages || !status) {
		perror("ka_numa");
		return 2;
	}
	madvise(region, n * page, MADV_NOHUGEPAGE);
	for (long i = 0; i < n; i++) {
		region[i * page] = 1;
		pages[i] = region + i * page;
		status[i] = -1;
	}
	unsigned long from = 1ul << 1, to = 1ul << 0;
	if (syscall(SYS_migrate_pages, 0, 8 * sizeof from, &from, &to) < 0) {
		perror("ka_numa: migrate_pages");
		return 2;
	}
	if (pin(cpu1) != 0) {
		perror("ka_numa: sched_setaffinity");
		return 2;
	}
	time_t start = time(NULL);
	long on1 = 0;
	while (time(NULL) - start < kGuardSeconds) {
		for (long i = 0; i < n; i++)
			region[i * page]++;
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) < 0) {
			perror("ka_numa: move_pages");
			return 2;
		}
		on1 = 0;
		for (long i = 0; i < n; i++)
			on1 += status[i] == 1;
		if (on1 == n) {
			printf("ka_numa: %ld pages moved from node 0 to node 1\n", n);
			return 0;
		}
	}
	printf("ka_numa: only %ld of %ld pages moved to node 1 in %d s\n", on1, n, kGuardSeconds);
	return 3;
}
