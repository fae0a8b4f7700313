/*
 * mlock-populate (seed 003): "mm: mlock: stop holding mmap_sem for write while faulting in a large region" (ps blocked
 * for minutes behind mlock). One thread mlock()s a large region, which the kernel must fault in; a reader thread reads
 * /proc/self/cmdline and /proc/self/maps in a loop, as ps does, and times each read; faulter threads mmap, touch and
 * munmap and time that. Invariant: no write hold spans the population (the pages are faulted in under the read lock).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "common.h"

static struct wl_stalls reader;
static struct wl_victims victims = WL_VICTIMS_INIT(500);

static void read_all(const char *path)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
}

static void *reader_loop(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "ps-reader");
	while (!atomic_load(&wl_stop)) {
		uint64_t t0 = wl_now_ns();
		read_all("/proc/self/cmdline"); /* access_remote_vm: mmap_lock for read, what blocked ps */
		read_all("/proc/self/maps");
		wl_stall_add(&reader, wl_now_ns() - t0);
		usleep(500);
	}
	return NULL;
}

/* A quarter of MemAvailable, at most 512 MiB: large enough that population takes a while, small enough to be safe. */
static long default_size_mib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = 0;
	if (f) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
				break;
		fclose(f);
	}
	long mib = kb / 1024 / 4;
	return mib > 512 ? 512 : mib < 16 ? 16 : mib;
}

static void usage(void)
{
	printf("usage: mlock-populate [--size MiB] [--rounds N] [--stats FILE]\n"
	       "  --size MiB    region mlock()ed each round (default: a quarter of MemAvailable, at most 512)\n"
	       "  --rounds N    mlock/munlock rounds (default 3)\n"
	       "  --stats FILE  write the workload's own figures (mlock time, reader and victim stalls) as JSON\n");
}

int main(int argc, char **argv)
{
	long size_mib = default_size_mib();
	int rounds = 3;
	const char *stats = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size_mib = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
			stats = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (size_mib <= 0 || rounds <= 0) {
		usage();
		return 2;
	}
	wl_handle_signals();
	size_t len = (size_t)size_mib << 20;
	pthread_t r, f[2];
	pthread_create(&r, NULL, reader_loop, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&f[i], NULL, wl_victim_loop, &victims);
	prctl(PR_SET_NAME, "mlocker"); /* after the threads are created: they would inherit the name */
	wl_wait_rounds(&reader, 1);
	wl_wait_rounds(&victims.stalls, 2);

	uint64_t mlock_max = 0, mlock_total = 0;
	int done = 0, failed = 0;
	for (int i = 0; i < rounds && !atomic_load(&wl_stop); i++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			failed = 1;
			break;
		}
		madvise(p, len, MADV_NOHUGEPAGE); /* 4K faults: population is long and every page is an allocation */
		uint64_t t0 = wl_now_ns();
		int rc = mlock(p, len);
		uint64_t d = wl_now_ns() - t0;
		if (rc) {
			perror("mlock");
			munmap(p, len);
			failed = 1;
			break;
		}
		mlock_total += d;
		if (d > mlock_max)
			mlock_max = d;
		done++;
		munlock(p, len);
		munmap(p, len);
		usleep(20000);
	}
	atomic_store(&wl_stop, 1);
	pthread_join(r, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(f[i], NULL);
	printf("mlock-populate: %d x mlock(%ld MiB), longest %.1f ms; reader reads %zu\n", done, size_mib, mlock_max / 1e6,
	       reader.n);
	if (stats) {
		FILE *s = fopen(stats, "w");
		if (s) {
			fprintf(s, "{\"rounds\": %d, \"size_mib\": %ld, \"pages_per_round\": %zu, \"mlock_max_ns\": %llu, "
				   "\"mlock_total_ns\": %llu, ",
				done, size_mib, len / 4096, (unsigned long long)mlock_max, (unsigned long long)mlock_total);
			wl_stall_json(s, "reader", &reader);
			fprintf(s, ", ");
			wl_stall_json(s, "victim", &victims.stalls);
			fprintf(s, "}\n");
			fclose(s);
		}
	}
	return failed;
}
