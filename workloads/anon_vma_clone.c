/*
 * anon-vma-clone (seed 002): "mm: avoid anon_vma_chain allocation under anon_vma lock". anon_vma_clone() tries each
 * chain with GFP_NOWAIT (the second and later under the anon_vma root lock) and, when that fails, drops the lock and
 * retries with GFP_KERNEL. To make NOWAIT tries fail, the process runs in its own memory cgroup filled with clean page
 * cache of a file larger than the limit. The parent's VMAs get a second anon_vma chain in a child (fork, touch), and
 * the child forks grandchildren, so each clone copies two chains. Before each fork the child reads cold pages of the
 * file until the cgroup has no room left, so the fork's charges meet the limit: a GFP_NOWAIT one fails, a GFP_KERNEL
 * one reclaims. The cgroup and the file are removed on exit and on SIGINT/SIGTERM.
 *
 * The filling is done by the forking child itself, between forks, and not by reader threads running alongside: with
 * three tasks reclaiming the same small cgroup at once, a charge sometimes found nothing to reclaim in sixteen tries
 * and the cgroup's OOM killer killed the workload (about 1 run in 40 on 6.18). One reclaimer at a time always finds
 * the clean page cache.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"
#include "memcg.h"

static char file[256];

static void usage(void)
{
	printf("usage: anon-vma-clone [--limit MiB] [--file MiB] [--vmas N] [--forks N] [--stats FILE]\n"
	       "  --limit MiB   memory cgroup limit (default 64)\n"
	       "  --file MiB    the file whose page cache fills the cgroup (default 256)\n"
	       "  --vmas N      anonymous VMAs, each with two anon_vma chains in the forking child (default 1000)\n"
	       "  --forks N     grandchildren forked by the child (default 100)\n"
	       "  --stats FILE  write the workload's own figures as JSON\n");
}

static void cleanup(void)
{
	memcg_cleanup();
	if (file[0])
		unlink(file);
	file[0] = 0;
	wl_journal_done();
}

/* Fork counts, in memory shared by the parent and the forking child. */
struct fork_counts {
	atomic_long made, failed;
};

/* Reads cold pages of the file, one at a time from *offset on (readahead off), until the cgroup has no room for
 * another page; at most one pass over the file. Reading a cached page charges nothing, so the pass goes on. */
static void fill_to_limit(int fd, long file_pages, long *offset)
{
	long page = sysconf(_SC_PAGESIZE);
	static char buf[1 << 16];
	long budget = file_pages;
	for (long room = memcg_room_pages(); room > 0 && budget > 0; room = memcg_room_pages()) {
		for (long i = 0; i < room && budget > 0; i++, budget--) {
			if (pread(fd, buf, page, *offset * page) != page)
				return;
			*offset = (*offset + 1) % file_pages;
		}
	}
}

int main(int argc, char **argv)
{
	long limit = 64, file_mib = 256, vmas = 1000, forks = 100;
	const char *stats = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			limit = atol(argv[++i]);
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file_mib = atol(argv[++i]);
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
	/* Written from inside the cgroup, so its page cache is charged there and fills it to the limit. */
	snprintf(file, sizeof file, "/var/tmp/holdscope-anon-vma-clone-%d", getpid());
	wl_journal("unlink", file, NULL);
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(file);
		return 1;
	}
	static char chunk[1 << 20];
	memset(chunk, 7, sizeof chunk);
	for (long i = 0; i < file_mib && !atomic_load(&wl_stop); i++)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
			perror(file);
			return 1;
		}
	/* Clean pages only: dirty page cache cannot be reclaimed before writeback, and the cgroup would OOM. */
	fsync(fd);
	/* One page per read: readahead charges with __GFP_NORETRY and would fail instead of filling the cgroup. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	long file_pages = (file_mib << 20) / sysconf(_SC_PAGESIZE), offset = 0;
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
		for (long i = 0; i < forks && !atomic_load(&wl_stop); i++) {
			fill_to_limit(fd, file_pages, &offset);
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
	close(fd);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "anon-vma-clone: the forking child did not finish (wait status %#x)\n", status);
		return 1;
	}
	if (stats) {
		FILE *f = fopen(stats, "w");
		if (f) {
			fprintf(f,
				"{\"vmas\": %ld, \"forks\": %ld, \"forks_failed\": %ld, \"limit_mib\": %ld, "
				"\"file_mib\": %ld}\n",
				vmas, atomic_load(&counts->made), atomic_load(&counts->failed), limit, file_mib);
			fclose(f);
		}
	}
	return 0;
}
