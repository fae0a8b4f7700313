/*
 * Known-answer program for anon_vma_clone. The parent creates M unmergeable one-page anonymous VMAs and touches each
 * (each gets an anon_vma with one chain), then forks F children that exit at once. dup_mmap -> anon_vma_fork ->
 * anon_vma_clone copies one chain per parent chain, each tried first with GFP_NOWAIT: M*F more tries than with M=0.
 * Usage: ka_fork M F
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ka_fork M F\n");
		return 2;
	}
	long m = atol(argv[1]), f = atol(argv[2]);
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
