/*
 * Known-answer program for the live tests: creates N single-page anonymous VMAs that cannot merge (one guard page
 * between neighbours), touches each once, then unmaps each. The live test runs it with two values of N and checks
 * that the difference between the two reports is what the kernel source says one iteration does under mmap_lock:
 *   mmap:   vm_area_alloc() -> one vm_area_struct allocation under the write lock;
 *   touch:  the first write fault on a VMA without an anon_vma takes mmap_lock for read (a trylock from the per-VMA
 *           lock path on 6.4+, the plain fault path before) where __anon_vma_prepare() allocates one anon_vma and one
 *           anon_vma_chain. With per-VMA locks the user page itself is allocated after mmap_lock is dropped;
 *   munmap: write lock, downgraded to read before the pages are unmapped (vms_complete_munmap_vmas).
 * With "stay PIDFILE" the work is done by a child process that then waits to be killed, while the command itself
 * exits once the work is done: a process still alive when the trace ends, whose counts are collected from the live
 * tasks then, not at its exit. PIDFILE gets the child's pid.
 * With "go FIFO" it does nothing until a byte arrives on FIFO, then the work, then exits: a process already running
 * when holdscope record -p attaches to it.
 * Usage: ka_vmas N [stay PIDFILE | go FIFO]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	int stay = argc == 4 && strcmp(argv[2], "stay") == 0;
	int go = argc == 4 && strcmp(argv[2], "go") == 0;
	if (argc != 2 && !stay && !go) {
		fprintf(stderr, "usage: ka_vmas N [stay PIDFILE | go FIFO]\n");
		return 2;
	}
	if (go) {
		char c;
		int fd = open(argv[3], O_RDONLY);
		if (fd < 0 || read(fd, &c, 1) != 1) {
			perror(argv[3]);
			return 1;
		}
		close(fd);
	}
	int done[2];
	if (stay) {
		if (pipe(done)) {
			perror("pipe");
			return 1;
		}
		pid_t child = fork();
		if (child < 0) {
			perror("fork");
			return 1;
		}
		if (child > 0) {
			char c;
			close(done[1]);
			if (read(done[0], &c, 1) != 1)
				return 1; /* the child failed */
			FILE *f = fopen(argv[3], "w");
			if (!f || fprintf(f, "%d\n", (int)child) < 0 || fclose(f)) {
				perror(argv[3]);
				kill(child, SIGKILL);
				return 1;
			}
			return 0;
		}
		close(done[0]);
	}
	long n = atol(argv[1]);
	long page = sysconf(_SC_PAGESIZE);
	/* A fixed area far from the heap, stack and libraries, so no VMA lands beside another one. */
	char *base = (char *)0x300000000000UL;
	if (wl_map_separate_vmas(base, n, 0)) {
		perror("mmap");
		return 1;
	}
	for (long i = 0; i < n; i++)
		base[i * 2 * page] = 1;
	for (long i = 0; i < n; i++)
		if (munmap(base + i * 2 * page, page)) {
			perror("munmap");
			return 1;
		}
	if (stay) {
		if (write(done[1], "x", 1) != 1)
			return 1;
		for (;;)
			pause();
	}
	return 0;
}
