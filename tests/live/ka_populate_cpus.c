/*
 * Known-answer program for the live tests: MAP_POPULATE faults in MIB MiB of anonymous memory on each online CPU in
 * turn (pinned there), then once more on the first. Every page is one order-0 allocation under mmap_lock for read,
 * made by __mm_populate from the same system call: one call path, counted in the kernel per CPU. The test checks
 * that every page is counted under a stack that shows the population, on whichever CPU the path was first seen.
 * Usage: ka_populate_cpus MIB
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>

static int populate_on(int cpu, size_t len)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		return -1;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	return munmap(p, len);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ka_populate_cpus MIB\n");
		return 2;
	}
	size_t len = (size_t)atol(argv[1]) << 20;
	/* 4K pages only, so that the count is one allocation per page (a huge page would be one for 512) */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) {
		perror("PR_SET_THP_DISABLE");
		return 1;
	}
	cpu_set_t online;
	if (sched_getaffinity(0, sizeof online, &online)) {
		perror("sched_getaffinity");
		return 1;
	}
	int first = -1, n = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &online))
			continue;
		if (first < 0)
			first = cpu;
		if (populate_on(cpu, len)) {
			perror("populate");
			return 1;
		}
		n++;
	}
	if (populate_on(first, len)) {
		perror("populate");
		return 1;
	}
	return n > 0 ? 0 : 1;
}
