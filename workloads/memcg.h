/* A private memory cgroup for a workload (cgroup v2 with the memory controller, else v1's memory hierarchy),
 * removed again on exit, also after SIGINT/SIGTERM when the workload calls memcg_cleanup from its handler path. */
#ifndef HOLDSCOPE_WORKLOAD_MEMCG_H
#define HOLDSCOPE_WORKLOAD_MEMCG_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

static char memcg_dir[256], memcg_parent_procs[256], memcg_usage_file[300];
static long memcg_limit_bytes;

static inline int memcg_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Moves the calling process back to the root and removes the cgroup. Safe to call twice. */
static inline void memcg_cleanup(void)
{
	char pid[32];
	if (!memcg_dir[0])
		return;
	snprintf(pid, sizeof pid, "%d\n", getpid());
	memcg_write(memcg_parent_procs, pid);
	rmdir(memcg_dir);
	memcg_dir[0] = 0;
}

/* Creates a cgroup limited to limit_mib and moves the calling process (all its threads) into it. */
static inline int memcg_enter(const char *tag, long limit_mib)
{
	char limit[64], path[300], pid[32];
	struct stat st;
	const char *limit_file;
	if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
		snprintf(memcg_dir, sizeof memcg_dir, "/sys/fs/cgroup/holdscope-%s-%d", tag, getpid());
		snprintf(memcg_parent_procs, sizeof memcg_parent_procs, "/sys/fs/cgroup/cgroup.procs");
		memcg_write("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
		limit_file = "memory.max";
		snprintf(memcg_usage_file, sizeof memcg_usage_file, "%s/memory.current", memcg_dir);
	} else if (stat("/sys/fs/cgroup/memory", &st) == 0) {
		snprintf(memcg_dir, sizeof memcg_dir, "/sys/fs/cgroup/memory/holdscope-%s-%d", tag, getpid());
		snprintf(memcg_parent_procs, sizeof memcg_parent_procs, "/sys/fs/cgroup/memory/cgroup.procs");
		limit_file = "memory.limit_in_bytes";
		snprintf(memcg_usage_file, sizeof memcg_usage_file, "%s/memory.usage_in_bytes", memcg_dir);
	} else {
		fprintf(stderr, "no memory cgroup controller found\n");
		return -1;
	}
	wl_journal("rmdir", memcg_dir, NULL);
	if (mkdir(memcg_dir, 0755) && errno != EEXIST) {
		perror("mkdir cgroup");
		memcg_dir[0] = 0;
		return -1;
	}
	memcg_limit_bytes = limit_mib << 20;
	snprintf(limit, sizeof limit, "%ld\n", memcg_limit_bytes);
	snprintf(path, sizeof path, "%s/%s", memcg_dir, limit_file);
	if (memcg_write(path, limit)) {
		perror("cgroup limit");
		memcg_cleanup();
		return -1;
	}
	snprintf(path, sizeof path, "%s/cgroup.procs", memcg_dir);
	snprintf(pid, sizeof pid, "%d\n", getpid());
	if (memcg_write(path, pid)) {
		perror("cgroup.procs");
		memcg_cleanup();
		return -1;
	}
	return 0;
}

/* Pages the cgroup can still be charged before it meets its limit (0 when full or unreadable). */
static inline long memcg_room_pages(void)
{
	char buf[64];
	int fd = open(memcg_usage_file, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	long room = memcg_limit_bytes - atol(buf);
	return room > 0 ? room / sysconf(_SC_PAGESIZE) : 0;
}

#endif
