/*
 * Known-answer program for sleeping work under mmap_lock: direct (memcg) reclaim while mmap_lock is held for read.
 * In a memory cgroup limited to LIMIT MiB it first reads a FILE MiB file (filling the cgroup with page cache), then
 * mmap()s ANON MiB of anonymous memory with MAP_POPULATE. __mm_populate() faults the pages in under mmap_lock held
 * for read, and each page charged to the full cgroup must first reclaim page cache: memcg reclaim under the lock.
 * The cgroup and the file are removed on exit, also after SIGINT/SIGTERM.
 * Usage: ka_reclaim [LIMIT_MiB] [FILE_MiB] [ANON_MiB]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memcg.h"

static char file[256];

static void cleanup(void)
{
	memcg_cleanup();
	if (file[0]) {
		unlink(file);
		file[0] = 0;
	}
	wl_journal_done();
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	long limit = argc > 1 ? atol(argv[1]) : 64;
	long file_mib = argc > 2 ? atol(argv[2]) : 128;
	long anon_mib = argc > 3 ? atol(argv[3]) : 32;
	static char buf[1 << 20];

	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* The file is written outside the cgroup and dropped from the page cache, so reading it charges the cgroup. */
	snprintf(file, sizeof file, "/var/tmp/holdscope-ka-reclaim-%d", getpid());
	wl_journal("unlink", file, NULL);
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	memset(buf, 7, sizeof buf);
	for (long i = 0; i < file_mib; i++)
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
			perror("write");
			return 1;
		}
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

	if (memcg_enter("ka-reclaim", limit))
		return 1;
	lseek(fd, 0, SEEK_SET);
	while (read(fd, buf, sizeof buf) > 0)
		;
	char *p = mmap(NULL, anon_mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	munmap(p, anon_mib << 20);
	close(fd);
	return 0;
}
