/*
 * mbind-migrate (seed 004): "mempolicy: mmap_lock is not needed while migrating folios" (6.7). Pages are placed on
 * node 0, then moved to node 1 with mbind(MPOL_BIND node 1, MPOL_MF_MOVE) and back with migrate_pages(2), while a
 * victim thread keeps mmapping, faulting and unmapping and times each operation (its stalls). Before 6.7, mbind held
 * mmap_lock for write and migrate_pages(2) for read across the whole migration, so every target page was allocated
 * under the lock. Needs two NUMA nodes; on one node it says so and exits 77.
 */
#define _GNU_SOURCE
#include <linux/mempolicy.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common.h"

static struct wl_victims victims = WL_VICTIMS_INIT(0);

static void usage(void)
{
	printf("usage: mbind-migrate [--size MiB] [--rounds N] [--stats FILE]\n"
	       "  --size MiB    memory migrated each round (default 32)\n"
	       "  --rounds N    node 0 -> 1 (mbind) -> 0 (migrate_pages) rounds (default 4)\n"
	       "  --stats FILE  write the workload's own figures (victim stalls) as JSON\n");
}

int main(int argc, char **argv)
{
	long size_mib = 32;
	int rounds = 4;
	const char *stats = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size_mib = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
			stats = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (wl_numa_nodes() < 2) {
		printf("skipped: needs 2 NUMA nodes\n");
		return 77;
	}
	wl_handle_signals();
	size_t len = (size_t)size_mib << 20;
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(buf, len, MADV_NOHUGEPAGE);
	unsigned long node0 = 1, node1 = 2;
	if (syscall(SYS_mbind, buf, len, MPOL_BIND, &node0, 8 * sizeof node0, 0)) {
		perror("mbind node 0");
		return 1;
	}
	memset(buf, 1, len); /* every page on node 0 */
	pthread_t t;
	pthread_create(&t, NULL, wl_victim_loop, &victims);
	wl_wait_rounds(&victims.stalls, 1);
	int moved = 0;
	for (int i = 0; i < rounds && !atomic_load(&wl_stop); i++) {
		if (syscall(SYS_mbind, buf, len, MPOL_BIND, &node1, 8 * sizeof node1, MPOL_MF_MOVE) == 0)
			moved++;
		else
			perror("mbind MPOL_MF_MOVE to node 1");
		/* back to node 0 for the next round, with migrate_pages(2) this time */
		if (syscall(SYS_migrate_pages, 0, 8 * sizeof node1, &node1, &node0) < 0)
			perror("migrate_pages 1 -> 0");
		syscall(SYS_mbind, buf, len, MPOL_BIND, &node0, 8 * sizeof node0, 0);
	}
	usleep(20000);
	atomic_store(&wl_stop, 1);
	pthread_join(t, NULL);
	if (stats) {
		FILE *f = fopen(stats, "w");
		if (f) {
			fprintf(f, "{\"rounds\": %d, \"size_mib\": %ld, ", moved, size_mib);
			wl_stall_json(f, "victim", &victims.stalls);
			fprintf(f, "}\n");
			fclose(f);
		}
	}
	return 0;
}
