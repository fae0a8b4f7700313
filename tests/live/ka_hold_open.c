/*
 * Known-answer program for holds still open when a trace ends. NPROC processes, each with its own mm, flip the
 * protection of their own 4K-page region with no pause until killed: each mprotect() holds that mm's mmap_lock for
 * write while it walks every PTE, and the gap between two flips is a return to user space. A trace that ends at any
 * moment finds a hold open unless every process is in that gap at once.
 * READY is created (by rename, so it appears whole) once every process has completed one flip: from then on the
 * processes are flipping, which is the state the test ends its trace in.
 * Usage: ka_hold_open MiB NPROC READY
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void flip_forever(size_t len, int ready_fd)
{
	char *region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap region");
		_exit(1);
	}
	/* Before the first touch: a huge page made by populating first is not split by MADV_NOHUGEPAGE. */
	madvise(region, len, MADV_NOHUGEPAGE);
	memset(region, 1, len);
	for (long i = 0;; i++) {
		if (mprotect(region, len, (i % 2) ? PROT_READ | PROT_WRITE : PROT_READ)) {
			perror("mprotect");
			_exit(1);
		}
		if (i == 0) {
			(void)!write(ready_fd, "f", 1);
			close(ready_fd);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ka_hold_open MiB NPROC READY\n");
		return 2;
	}
	size_t len = strtoul(argv[1], NULL, 10) << 20;
	int nproc = atoi(argv[2]);
	const char *ready = argv[3];
	if (!len || nproc < 1) {
		fprintf(stderr, "ka_hold_open: MiB and NPROC must be positive\n");
		return 2;
	}
	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return 1;
	}
	pid_t parent = getpid();
	for (int i = 0; i < nproc; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			/* The flippers never exit on their own: they go with the parent, whatever ends it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			close(p[0]);
			flip_forever(len, p[1]);
		}
	}
	close(p[1]);
	char c;
	for (int got = 0; got < nproc;) {
		ssize_t n = read(p[0], &c, 1);
		if (n == 1)
			got++;
		else {
			fprintf(stderr, "ka_hold_open: a flipper died before its first flip\n");
			return 1;
		}
	}
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", ready);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", nproc) < 0 || fclose(f) || rename(tmp, ready)) {
		perror("ready file");
		return 1;
	}
	for (;;)
		if (wait(NULL) < 0)
			return 1; /* a flipper failed: nothing left to wait for */
}
