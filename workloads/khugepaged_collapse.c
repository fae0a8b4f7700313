/*
 * khugepaged-collapse (seed 001): "khugepaged: allocate the huge page before taking mmap_sem for write". Regions of
 * 4K pages are turned into huge pages two ways: synchronously with MADV_COLLAPSE (the caller runs the collapse), and by
 * khugepaged (MADV_HUGEPAGE after the pages were touched, khugepaged's knobs set for fast scanning). Meanwhile victim
 * threads mmap, fault and munmap and time each operation: the collapse's write hold stalls them. Invariant: the huge
 * page is allocated with no mmap_lock held for write. The knobs are restored on exit, also after Ctrl-C.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include "common.h"
#include "journal.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HPAGE (2ul << 20)
#define KNOBS "/sys/kernel/mm/transparent_hugepage/khugepaged/"

static struct wl_victims victims = WL_VICTIMS_INIT(200);

struct knob {
	const char *name;
	const char *fast;
	char saved[32];
	int changed;
};

static struct knob knobs[] = {
	{"scan_sleep_millisecs", "10", "", 0},
	{"alloc_sleep_millisecs", "10", "", 0},
	{"pages_to_scan", "4096", "", 0},
};

static int read_str(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int write_str(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fputs(val, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static long read_long(const char *path)
{
	char buf[64];
	return read_str(path, buf, sizeof buf) ? -1 : atol(buf);
}

static void restore_knobs(void)
{
	char path[256];
	for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		if (!knobs[i].changed)
			continue;
		snprintf(path, sizeof path, KNOBS "%s", knobs[i].name);
		if (write_str(path, knobs[i].saved))
			fprintf(stderr, "khugepaged-collapse: cannot restore %s to %s\n", path, knobs[i].saved);
		knobs[i].changed = 0;
	}
	wl_journal_done();
}

static int speed_up_khugepaged(void)
{
	char path[256];
	for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		snprintf(path, sizeof path, KNOBS "%s", knobs[i].name);
		if (read_str(path, knobs[i].saved, sizeof knobs[i].saved))
			return -1;
		wl_journal("write", path, knobs[i].saved);
		if (write_str(path, knobs[i].fast))
			return -1;
		knobs[i].changed = 1;
	}
	return 0;
}

/* AnonHugePages, in kB, of the VMA that starts at addr (madvise gave each region set its own VMA); other huge pages of
 * the process (a thread stack on a THP=always kernel) do not count. */
static long vma_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	long kb = -1;
	int in_vma = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long start, end;
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in_vma = start == (unsigned long)addr;
			continue;
		}
		if (in_vma && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void usage(void)
{
	printf("usage: khugepaged-collapse [--regions N] [--mode both|madv|khugepaged] [--timeout S] [--stats FILE]\n"
	       "  --regions N   2 MiB regions of 4K pages per path (default 8)\n"
	       "  --mode M      MADV_COLLAPSE, khugepaged, or both (default both)\n"
	       "  --timeout S   seconds to wait for khugepaged (default 30)\n"
	       "  --stats FILE  write the workload's own figures (collapses, victim stalls) as JSON\n"
	       "khugepaged's scan knobs are set for fast scanning and restored on exit, also after Ctrl-C.\n");
}

int main(int argc, char **argv)
{
	long regions = 8;
	int timeout_s = 30;
	const char *mode = "both", *stats = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--regions") && i + 1 < argc)
			regions = atol(argv[++i]);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout_s = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
			stats = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	int madv = strcmp(mode, "khugepaged") != 0, khp = strcmp(mode, "madv") != 0;
	if (regions <= 0 || (!madv && !khp)) {
		usage();
		return 2;
	}
	char thp[128];
	if (read_str("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof thp)) {
		printf("skipped: no transparent huge pages in this kernel\n");
		return 77;
	}
	if (strstr(thp, "[never]")) {
		printf("skipped: transparent huge pages are disabled (enabled=never)\n");
		return 77;
	}
	wl_handle_signals();
	if (khp && speed_up_khugepaged()) {
		fprintf(stderr, "khugepaged-collapse: cannot set khugepaged's knobs under " KNOBS ": %s\n", strerror(errno));
		restore_knobs();
		return 1;
	}

	/* One unused huge page between the two sets keeps their VMAs from merging once both are MADV_HUGEPAGE. */
	size_t n = (size_t)regions * (madv + khp) + 1;
	char *raw = mmap(NULL, (n + 1) * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		restore_knobs();
		return 1;
	}
	char *buf = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	/* 4K pages first (whatever THP's "enabled" says), so there is something to collapse. */
	madvise(buf, n * HPAGE, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < n * HPAGE; off += 4096)
		buf[off] = 1;
	long collapsed_before = read_long(KNOBS "pages_collapsed");

	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, wl_victim_loop, &victims);
	wl_wait_rounds(&victims.stalls, 2);

	long madv_ok = 0, madv_failed = 0;
	char *madv_buf = buf, *khp_buf = buf + (madv ? (regions + 1) * HPAGE : 0);
	if (madv) {
		madvise(madv_buf, regions * HPAGE, MADV_HUGEPAGE);
		for (long i = 0; i < regions && !atomic_load(&wl_stop); i++) {
			if (madvise(madv_buf + i * HPAGE, HPAGE, MADV_COLLAPSE) == 0)
				madv_ok++;
			else
				madv_failed++;
		}
	}
	long khp_huge_kb = 0;
	if (khp) {
		madvise(khp_buf, regions * HPAGE, MADV_HUGEPAGE); /* registers the mm with khugepaged */
		long want = regions * (long)(HPAGE >> 10);
		uint64_t deadline = wl_now_ns() + (uint64_t)timeout_s * 1000000000ull;
		while (!atomic_load(&wl_stop) && wl_now_ns() < deadline && vma_huge_kb(khp_buf) < want)
			usleep(50000);
		khp_huge_kb = vma_huge_kb(khp_buf);
	}
	usleep(20000);
	atomic_store(&wl_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	long collapsed_after = read_long(KNOBS "pages_collapsed");
	restore_knobs();
	printf("khugepaged-collapse: MADV_COLLAPSE %ld ok, %ld failed; khugepaged made %ld kB huge; victim ops %zu\n",
	       madv_ok, madv_failed, khp_huge_kb, victims.stalls.n);
	if (stats) {
		FILE *f = fopen(stats, "w");
		if (f) {
			fprintf(f, "{\"regions\": %ld, \"madv_collapse_ok\": %ld, \"madv_collapse_failed\": %ld, "
				   "\"khugepaged_huge_kb\": %ld, \"pages_collapsed_delta\": %ld, ",
				regions, madv_ok, madv_failed, khp_huge_kb, collapsed_after - collapsed_before);
			wl_stall_json(f, "victim", &victims.stalls);
			fprintf(f, "}\n");
			fclose(f);
		}
	}
	munmap(raw, (n + 1) * HPAGE);
	return 0;
}
