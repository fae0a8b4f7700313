/*
 * anon-vma-clone (seed 002): "mm: avoid anon_vma_chain allocation under anon_vma lock". anon_vma_clone() tries each
 * chain with GFP_NOWAIT (the second and later under the anon_vma root lock) and, when that fails, drops the lock and
 * retries with GFP_KERNEL. To make NOWAIT tries fail, the process runs in its own memory cgroup held at its limit by
 * a thread that keeps re-reading a file larger than the limit (page cache charged to the cgroup): a charge that
 * cannot reclaim fails. The parent's VMAs get a second anon_vma chain in a child (fork, touch), and the child forks
 * grandchildren, so each clone copies two chains. The cgroup and the file are removed on exit and on SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"
#include "memcg.h"

static char file[256];

static void usage(void)
{
	printf("usage: anon-vma-clone [--limit MiB] [--file MiB] [--vmas N] [--forks N] [--stats FILE]\n"
	       "  --limit MiB   memory cgroup limit (default 64)\n"
	       "  --file MiB    page cache kept cycling through the cgroup (default 256)\n"
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

static void *reader(void *arg)
{
	(void)arg;
	static char buf[1 << 20];
	while (!atomic_load(&wl_stop)) {
		int fd = open(file, O_RDONLY);
		if (fd < 0)
			return NULL;
		while (!atomic_load(&wl_stop) && read(fd, buf, sizeof buf) > 0)
			;
		close(fd);
	}
	return NULL;
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
	atexit(cleanup);
	if (memcg_enter("anon-vma-clone", limit))
		return 1;
	/* Written from inside the cgroup, so its page cache is charged there and fills it to the limit. */
	snprintf(file, sizeof file, "/var/tmp/holdscope-anon-vma-clone-%d", getpid());
	wl_journal("unlink", file, NULL);
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	static char chunk[1 << 20];
	memset(chunk, 7, sizeof chunk);
	for (long i = 0; fd >= 0 && i < file_mib && !atomic_load(&wl_stop); i++)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			break;
	/* Clean pages only: dirty page cache cannot be reclaimed before writeback, and the cgroup would OOM. */
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	/* Two readers keep the charge counter pinned at the limit, so that a charge which cannot reclaim meets it. */
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, NULL);

	long page = sysconf(_SC_PAGESIZE);
	char *base = (char *)0x330000000000UL;
	if (wl_map_separate_vmas(base, vmas, 1)) {
		perror("mmap");
		return 1;
	}
	long forked = 0;
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		wl_die_with_parent(parent);
		for (long i = 0; i < vmas; i++)
			base[i * 2 * page] = 2; /* a second chain per VMA */
		for (long i = 0; i < forks && !atomic_load(&wl_stop); i++) {
			pid_t g = fork();
			if (g == 0)
				_exit(0);
			if (g > 0)
				waitpid(g, NULL, 0);
		}
		_exit(0);
	}
	int status = 0;
	if (child > 0) {
		waitpid(child, &status, 0);
		forked = forks;
	}
	atomic_store(&wl_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (stats) {
		FILE *f = fopen(stats, "w");
		if (f) {
			fprintf(f, "{\"vmas\": %ld, \"forks\": %ld, \"limit_mib\": %ld, \"file_mib\": %ld}\n", vmas, forked,
				limit, file_mib);
			fclose(f);
		}
	}
	return 0;
}
