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

static char cg[256], file[256];
static char parent_procs[256];

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void cleanup(void)
{
	char pid[32];
	snprintf(pid, sizeof pid, "%d\n", getpid());
	if (cg[0]) {
		write_str(parent_procs, pid);
		rmdir(cg);
		cg[0] = 0;
	}
	if (file[0]) {
		unlink(file);
		file[0] = 0;
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* cgroup v2 with the memory controller, else v1's memory hierarchy. */
static int make_cgroup(long limit_mib)
{
	char limit[64], path[300], pid[32];
	struct stat st;
	const char *v2 = "/sys/fs/cgroup";
	const char *v1 = "/sys/fs/cgroup/memory";
	const char *limit_file;
	if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
		snprintf(cg, sizeof cg, "%s/holdscope-ka-%d", v2, getpid());
		snprintf(parent_procs, sizeof parent_procs, "%s/cgroup.procs", v2);
		write_str("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
		limit_file = "memory.max";
	} else if (stat(v1, &st) == 0) {
		snprintf(cg, sizeof cg, "%s/holdscope-ka-%d", v1, getpid());
		snprintf(parent_procs, sizeof parent_procs, "%s/cgroup.procs", v1);
		limit_file = "memory.limit_in_bytes";
	} else {
		fprintf(stderr, "ka_reclaim: no memory cgroup controller found\n");
		return -1;
	}
	if (mkdir(cg, 0755) && errno != EEXIST) {
		perror("mkdir cgroup");
		cg[0] = 0;
		return -1;
	}
	snprintf(limit, sizeof limit, "%ld\n", limit_mib << 20);
	snprintf(path, sizeof path, "%s/%s", cg, limit_file);
	if (write_str(path, limit)) {
		perror("cgroup limit");
		return -1;
	}
	snprintf(path, sizeof path, "%s/cgroup.procs", cg);
	snprintf(pid, sizeof pid, "%d\n", getpid());
	if (write_str(path, pid)) {
		perror("cgroup.procs");
		return -1;
	}
	return 0;
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

	if (make_cgroup(limit))
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
