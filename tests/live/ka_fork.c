/*
 * Known-answer program for anon_vma_clone. The parent creates M unmergeable one-page anonymous VMAs and touches each
 * (each gets an anon_vma with one chain), then forks F children that exit at once. dup_mmap -> anon_vma_fork ->
 * anon_vma_clone copies one chain per parent chain, each tried first with GFP_NOWAIT: M*F more tries than with M=0.
 * With "together", the F children are all alive at once: each waits until every one has been forked, maps and unmaps
 * a page (two write holds of its own mm), and exits.
 * Usage: ka_fork M F [together]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int fork_together(long f)
{
	int go[2];
	if (pipe(go)) {
		perror("pipe");
		return 1;
	}
	for (long i = 0; i < f; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			char c;
			close(go[1]);
			(void)!read(go[0], &c, 1); /* EOF once the parent has forked them all */
			void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p != MAP_FAILED)
				munmap(p, 4096);
			_exit(0);
		}
	}
	close(go[1]);
	close(go[0]);
	while (wait(NULL) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	int together = argc == 4 && !strcmp(argv[3], "together");
	if (argc != 3 && !together) {
		fprintf(stderr, "usage: ka_fork M F [together]\n");
		return 2;
	}
	long m = atol(argv[1]), f = atol(argv[2]);
	if (together)
		return fork_together(f);
	if (wl_map_separate_vmas((char *)0x310000000000UL, m, 1)) {
		perror("mmap");
		return 1;
	}
	for (long i = 0; i < f; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	return 0;
}
