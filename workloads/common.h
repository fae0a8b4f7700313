/* Shared by the workloads: argument parsing helpers, stall statistics, the stats file, Ctrl-C handling. */
#ifndef HOLDSCOPE_WORKLOAD_COMMON_H
#define HOLDSCOPE_WORKLOAD_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_int wl_stop;

static inline void wl_on_signal(int sig)
{
	(void)sig;
	atomic_store(&wl_stop, 1);
}

/* SIGINT/SIGTERM end the run early; each workload then restores what it changed and writes its stats. */
static inline void wl_handle_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = wl_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static inline uint64_t wl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Bounded stall record: a fixed array of samples (the victim's operation times); the oldest are kept. */
#define WL_MAX_SAMPLES (1 << 20)
struct wl_stalls {
	uint64_t *ns;
	size_t n;
	atomic_ulong rounds; /* rounds done, read by other threads (wl_wait_rounds) */
};

static inline void wl_stall_add(struct wl_stalls *s, uint64_t ns)
{
	if (!s->ns)
		s->ns = calloc(WL_MAX_SAMPLES, sizeof(uint64_t));
	if (s->ns && s->n < WL_MAX_SAMPLES)
		s->ns[s->n++] = ns;
	atomic_fetch_add(&s->rounds, 1);
}

/* Waits until a loop has done n rounds (or the run is stopped): the threads that must see the work are running
 * before it starts, however slowly they were scheduled. */
static inline void wl_wait_rounds(struct wl_stalls *s, unsigned long n)
{
	while (atomic_load(&s->rounds) < n && !atomic_load(&wl_stop))
		usleep(100);
}

static inline int wl_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Writes {"<prefix>_ops":N,"<prefix>_p99_ns":..,"<prefix>_max_ns":..} fields (no braces) to f. */
static inline void wl_stall_json(FILE *f, const char *prefix, struct wl_stalls *s)
{
	uint64_t p99 = 0, max = 0;
	if (s->n) {
		qsort(s->ns, s->n, sizeof(uint64_t), wl_cmp_u64);
		size_t rank = (s->n * 99 + 99) / 100;
		p99 = s->ns[(rank ? rank : 1) - 1];
		max = s->ns[s->n - 1];
	}
	fprintf(f, "\"%s_ops\": %zu, \"%s_p99_ns\": %llu, \"%s_max_ns\": %llu", prefix, s->n, prefix,
		(unsigned long long)p99, prefix, (unsigned long long)max);
}

/* Victim threads: each mmaps a page, touches it and unmaps it in a loop until wl_stop, timing every round (a stall
 * behind a hold of mmap_lock shows up here), pausing pause_us between rounds. Several threads may share one. */
struct wl_victims {
	struct wl_stalls stalls;
	pthread_mutex_t lock;
	unsigned pause_us;
};
#define WL_VICTIMS_INIT(pause) {{NULL, 0, 0}, PTHREAD_MUTEX_INITIALIZER, (pause)}

static inline void *wl_victim_loop(void *arg)
{
	struct wl_victims *v = arg;
	while (!atomic_load(&wl_stop)) {
		uint64_t t0 = wl_now_ns();
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			p[0] = 1;
			munmap(p, 4096);
		}
		uint64_t d = wl_now_ns() - t0;
		pthread_mutex_lock(&v->lock);
		wl_stall_add(&v->stalls, d);
		pthread_mutex_unlock(&v->lock);
		if (v->pause_us)
			usleep(v->pause_us);
	}
	return NULL;
}

/* Maps n one-page anonymous VMAs at base, one page apart so that no two can merge, and writes to each (giving it an
 * anon_vma) when touch is set. Returns 0, or -1 with errno set. */
static inline int wl_map_separate_vmas(char *base, long n, int touch)
{
	long page = sysconf(_SC_PAGESIZE);
	for (long i = 0; i < n; i++) {
		char *p = mmap(base + i * 2 * page, page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		if (touch)
			*p = 1;
	}
	return 0;
}

static inline int wl_numa_nodes(void)
{
	char path[64];
	int n = 0;
	for (int i = 0; i < 64; i++) {
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d", i);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

#endif
