/*
 * Known-answer program for comparing lock timers: N write holds of mmap_lock, each long enough to time (mprotect()
 * of a populated region of 4K pages rewrites every PTE under the lock). The region is advised NOHUGEPAGE before it is
 * touched, so the work per hold is the same on every kernel, and it is flipped as a whole, so it stays one VMA.
 * Usage: ka_locks N [MiB]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100;
	size_t len = (size_t)(argc > 2 ? atol(argv[2]) : 16) << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 1, len);
	for (long i = 0; i < n; i++)
		if (mprotect(p, len, i % 2 ? PROT_READ | PROT_WRITE : PROT_READ)) {
			perror("mprotect");
			return 1;
		}
	return 0;
}
