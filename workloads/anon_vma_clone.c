/*
 * anon-vma-clone (seed 002): "mm: avoid anon_vma_chain allocation under anon_vma lock". anon_vma_clone() tries each
 * chain with GFP_NOWAIT (the second and later under the anon_vma root lock) and, when that fails, drops the lock and
 * retries with GFP_KERNEL. To make NOWAIT tries fail, the process runs in its own memory cgroup kept full of memory
 * that reclaim can take back at once: anonymous pages given back with MADV_FREE (clean lazily-freed pages need no swap
 * and no disk, so this works in a guest too). The parent's VMAs get a second anon_vma chain in a child (fork, touch),
 * and the child forks grandchildren, so each clone copies two chains. Before each fork the child writes and frees
 * ballast pages until the cgroup has no room left, so the fork's charges meet the limit: a GFP_NOWAIT one fails, a
 * GFP_KERNEL one reclaims ballast. The cgroup is removed on exit and on SIGINT/SIGTERM.
 *
 * The filling is done by the forking child itself, between forks, and not by threads running alongside: with three
 * tasks reclaiming the same small cgroup at once, a charge sometimes found nothing to reclaim in sixteen tries and the
 * cgroup's OOM killer killed the workload (about 1 run in 40 on 6.18). One reclaimer at a time always finds ballast.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"
#include "memcg.h"

static void usage(void)
{
	printf("usage: anon-vma-clone [--limit MiB] [--ballast MiB] [--vmas N] [--forks N] [--stats FILE]\n"
	       "  --limit MiB    memory cgroup limit (default 64)\n"
	       "  --ballast MiB  lazily-freed memory cycled through the cgroup to keep it full (default 4 x the limit)\n"
	       "  --vmas N       anonymous VMAs, each with two anon_vma chains in the forking child (default 1000)\n"
	       "  --forks N      grandchildren forked by the child (default 100)\n"
	       "  --stats FILE   write the workload's own figures as JSON\n");
}

static void cleanup(void)
{
	memcg_cleanup();
	wl_journal_done();
}

/* Fork counts, in memory shared by the parent and the forking child. */
struct fork_counts {
	atomic_long made, failed;
};

/* Ballast pages: each is written (a new charge if reclaim took it, nothing if not) and at once given back with
 * MADV_FREE, which leaves it charged but reclaimable. Cycles from *next on until the cgroup has no room for another
 * page; at most one pass over the ballast. */
static void fill_to_limit(char *ballast, long pages, long *next)
{
	long page = sysconf(_SC_PAGESIZE);
	long budget = pages;
	for (long room = memcg_room_pages(); room > 0 && budget > 0; room = memcg_room_pages()) {
		for (long i = 0; i < room && budget > 0; i++, budget--) {
			char *p = ballast + *next * page;
			*p = 1;
			madvise(p, page, MADV_FREE);
			*next = (*next + 1) % pages;
		}
	}
}

int main(int argc, char **argv)
{
	long limit = 64, ballast_mib = 0, vmas = 1000, forks = 100;
	const char *stats = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			limit = atol(argv[++i]);
		else if (!strcmp(argv[i], "--ballast") && i + 1 < argc)
			ballast_mib = atol(argv[++i]);
		else if (!strcmp(argv[i], "--vmas") && i + 1 < argc)
			vmas = atol(argv[++i]);
		else if (!strcmp(argv[i], "--forks") && i + 1 < argc)
			forks = atol(argv[++i]);
		else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
			stats = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (!ballast_mib)
		ballast_mib = 4 * limit;
	wl_handle_signals();
	struct fork_counts *counts =
		mmap(NULL, sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	atexit(cleanup);
	if (memcg_enter("anon-vma-clone", limit))
		return 1;

	long page = sysconf(_SC_PAGESIZE);
	char *base = (char *)0x330000000000UL;
	if (wl_map_separate_vmas(base, vmas, 1)) {
		perror("mmap");
		return 1;
	}
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		wl_die_with_parent(parent);
		for (long i = 0; i < vmas; i++)
			base[i * 2 * page] = 2; /* a second chain per VMA */
		long ballast_pages = (ballast_mib << 20) / page, next = 0;
		char *ballast = mmap(NULL, (size_t)ballast_pages * page, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ballast == MAP_FAILED)
			_exit(1);
		/* 4K pages, and none of it in the grandchildren: their forks copy only the VMAs that matter. */
		madvise(ballast, (size_t)ballast_pages * page, MADV_NOHUGEPAGE);
		madvise(ballast, (size_t)ballast_pages * page, MADV_DONTFORK);
		for (long i = 0; i < forks && !atomic_load(&wl_stop); i++) {
			fill_to_limit(ballast, ballast_pages, &next);
			pid_t g = fork();
			if (g == 0)
				_exit(0);
			if (g > 0) {
				atomic_fetch_add(&counts->made, 1);
				waitpid(g, NULL, 0);
			} else {
				atomic_fetch_add(&counts->failed, 1);
			}
		}
		_exit(0);
	}
	int status = 0;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "anon-vma-clone: the forking child did not finish (wait status %#x)\n", status);
		return 1;
	}
	if (stats) {
		FILE *f = fopen(stats, "w");
		if (f) {
			fprintf(f,
				"{\"vmas\": %ld, \"forks\": %ld, \"forks_failed\": %ld, \"limit_mib\": %ld, "
				"\"ballast_mib\": %ld}\n",
				vmas, atomic_load(&counts->made), atomic_load(&counts->failed), limit, ballast_mib);
			fclose(f);
		}
	}
	return 0;
}
