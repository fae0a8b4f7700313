// SPDX-License-Identifier: GPL-2.0
/*
 * holdscope monitor: mmap_lock hold and wait time histograms, and the work done under the lock, aggregated in the
 * kernel per memory cgroup (and per process when asked), for a tool that runs continuously. Nothing is streamed for
 * ordinary holds; a hold at least threshold_ns long is written to a ring buffer when it ends, with its stack and what
 * was done inside it.
 *
 * The work done under the lock is added up in the task's own state while it holds the lock and added to the per-cgroup
 * table once, when its last hold ends: one map update per hold rather than one per allocation.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "holdscope_events.h"
#include "monitor_maps.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u8 filter_targets = 0;   /* -p: only that process and the mms it uses */
const volatile __u64 filter_cgroup = 0;   /* --cgroup: only tasks in this memory cgroup (its id) */
const volatile __u8 per_process = 0;      /* key the tables by process too */
const volatile __u64 threshold_ns = 0;    /* slow-hold records for holds at least this long; 0: none */
const volatile __u64 lru_drain_fn = 0;    /* address of lru_add_drain_per_cpu from /proc/kallsyms */
const volatile __u64 gfp_direct_reclaim = 0;

volatile __u32 hs_enabled = 0;
/* Bumped by user space after each reading: a histogram's max_ns is that of the current period. */
volatile __u64 max_epoch = 0;

#include "counters.bpf.h"
#include "memcg.bpf.h"
#include "scope.bpf.h"
#include "idle_task.bpf.h"

#define HS_MON_MAX_HELD 4

struct mon_task {
	__u64 held_mm[HS_MON_MAX_HELD];
	__u64 held_ts[HS_MON_MAX_HELD];
	__u64 start_mm; /* an acquisition under way */
	__u64 start_ts;
	__u64 css_set;  /* the task's css_set when cgroup was read: a move to another cgroup changes it */
	__u64 cgroup;
	__u64 reclaim_ts; /* a reclaim under the lock began (0: none) */
	struct hs_mon_work work[2]; /* under the read lock, under the write lock; added to the group at the last release */
	struct hs_mon_work total_at[HS_MON_MAX_HELD]; /* the task's total work when each hold began: a slow hold's own */
	struct hs_mon_work total;
	__u64 held_wait_ns[HS_MON_MAX_HELD]; /* the wait before each hold, added with the hold at its release */
	__u8 held_write[HS_MON_MAX_HELD];
	__u8 held_waited[HS_MON_MAX_HELD];   /* the acquisition's start was seen: held_wait_ns is its wait */
	__u8 nheld;
	__u8 nwrite; /* of the nheld, those held for write: the mode work under the lock is counted in */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mon_task);
} mon_tasks SEC(".maps");

/* Per CPU: the threads of one busy cgroup update the same entry, and a shared one with atomic adds bounced between
 * CPUs at every hold. User space sizes it by the number of CPUs (a memory budget), deletes the entries of groups idle
 * for a while, and a full table is counted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hs_mon_group_key);
	__type(value, struct hs_mon_group);
} mon_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_MON_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mon_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} slow_holds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, HS_MAX_STACK_DEPTH * sizeof(__u64));
} mon_stacks SEC(".maps");

static __always_inline void mon_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&mon_counters, &idx);
	if (v)
		(*v)++;
}

static __always_inline struct mon_task *mon_state(bool create)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!create)
		return bpf_task_storage_get(&mon_tasks, task, 0, 0);
	struct mon_task *st = bpf_task_storage_get(&mon_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		mon_count(HS_MON_CNT_TASK_FULL);
	return st;
}

/* The current task's memory cgroup (memcg.bpf.h), read again only when the task's css_set changed. */
static __always_inline __u64 memcg_of_current(struct mon_task *st)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 cs = (__u64)t->cgroups; /* a plain load through BTF, where a probe read costs a helper call per event */
	if (st && st->css_set == cs)
		return st->cgroup;
	__u64 id = memcg_of_task(t);
	if (st) {
		st->css_set = cs;
		st->cgroup = id;
	}
	return id;
}

/* log2 of ns, capped at the last bucket. */
static __always_inline __u32 bucket_of(__u64 ns)
{
	__u32 b = 0;
	if (ns >> 32) { ns >>= 32; b += 32; }
	if (ns >> 16) { ns >>= 16; b += 16; }
	if (ns >> 8) { ns >>= 8; b += 8; }
	if (ns >> 4) { ns >>= 4; b += 4; }
	if (ns >> 2) { ns >>= 2; b += 2; }
	if (ns >> 1) { b += 1; }
	return b < HS_MON_BUCKETS ? b : HS_MON_BUCKETS - 1;
}

/* The group's entry, made on first use; NULL (counted) when the table is full. */
static __always_inline struct hs_mon_group *group_of(__u64 cgroup)
{
	struct hs_mon_group_key k = {.cgroup = cgroup, .tgid = per_process ? bpf_get_current_pid_tgid() >> 32 : 0};
	struct hs_mon_group *g = bpf_map_lookup_elem(&mon_groups, &k);
	if (g)
		return g;
	/* Too large for the BPF stack: zeroes from read-only data. Another CPU may have made the entry meanwhile. */
	static const struct hs_mon_group zero;
	bpf_map_update_elem(&mon_groups, &k, &zero, BPF_NOEXIST);
	g = bpf_map_lookup_elem(&mon_groups, &k);
	if (!g)
		mon_count(HS_MON_CNT_HIST_FULL);
	return g;
}

static __always_inline void add_to_hist(struct hs_mon_hist *h, __u64 ns)
{
	__u32 b = bucket_of(ns);
	if (b < HS_MON_BUCKETS)
		h->buckets[b]++;
	h->count++;
	h->sum_ns += ns;
	__u64 epoch = max_epoch;
	if (h->max_epoch != epoch) {
		h->max_epoch = epoch;
		h->max_ns = ns;
	} else if (ns > h->max_ns) {
		h->max_ns = ns;
	}
}

static __always_inline bool work_empty(const struct hs_mon_work *w)
{
	return !(w->pages | w->slabs | w->kmallocs | w->reclaims | w->compactions | w->lru_drains);
}

static __always_inline void add_work(struct hs_mon_work *to, const struct hs_mon_work *w)
{
	to->pages += w->pages;
	to->slabs += w->slabs;
	to->kmallocs += w->kmallocs;
	to->may_sleep += w->may_sleep;
	to->reclaims += w->reclaims;
	to->reclaim_ns += w->reclaim_ns;
	to->compactions += w->compactions;
	to->lru_drains += w->lru_drains;
}

/* The task's work under the lock, added to its group's at its last release. */
static __always_inline void fold_work(struct mon_task *st, struct hs_mon_group *g)
{
	for (int m = 0; m < 2; m++) {
		struct hs_mon_work *w = &st->work[m];
		if (work_empty(w))
			continue;
		add_work(&g->work[m], w);
		__builtin_memset(w, 0, sizeof(*w));
	}
}

/* Whether this event's task is monitored: the -p and --cgroup filters. */
static __always_inline bool monitored(__u64 mm, struct mon_task *st, __u64 *cgroup)
{
	if (!in_scope(mm)) /* the --cgroup filter too */
		return false;
	*cgroup = memcg_of_current(st);
	return true;
}

static __always_inline int lock_start(__u64 mm)
{
	if (!hs_enabled)
		return 0;
	if (filter_targets && !in_scope(mm))
		return 0;
	struct mon_task *st = mon_state(true);
	if (!st)
		return 0;
	st->start_mm = mm;
	st->start_ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int lock_acquired(__u64 mm, bool write, bool success)
{
	if (!hs_enabled)
		return 0;
	struct mon_task *st = mon_state(true);
	if (!st)
		return 0;
	__u64 cgroup = 0;
	/* A failed trylock (a fault's, when a writer holds the lock) holds nothing and its wait is not kept: no clock. */
	if (!success || !monitored(mm, st, &cgroup)) {
		st->start_mm = 0;
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	bool waited = st->start_mm == mm && st->start_ts;
	__u64 wait_ns = waited ? now - st->start_ts : 0;
	st->start_mm = 0;
	/* mmap_write_downgrade: acquire_returned(write=false) while the task holds mm for write. The write part ends,
	 * a read hold begins now. */
	for (int i = 0; i < HS_MON_MAX_HELD && !write && st->nwrite; i++) {
		if (st->held_mm[i] == mm && st->held_write[i]) {
			struct hs_mon_group *g = group_of(cgroup);
			if (g) {
				add_to_hist(&g->hold[1], now - st->held_ts[i]);
				if (st->held_waited[i])
					add_to_hist(&g->wait[1], st->held_wait_ns[i]);
			}
			st->held_ts[i] = now;
			st->held_write[i] = 0;
			st->held_waited[i] = 0;
			if (st->nwrite)
				st->nwrite--;
			return 0;
		}
	}
	for (int i = 0; i < HS_MON_MAX_HELD; i++) {
		if (st->held_mm[i] == 0) {
			st->held_mm[i] = mm;
			st->held_ts[i] = now;
			st->held_write[i] = write;
			st->held_wait_ns[i] = wait_ns;
			st->held_waited[i] = waited;
			if (threshold_ns) /* only a slow hold's record needs the work it did alone */
				st->total_at[i] = st->total;
			st->nheld++;
			if (write)
				st->nwrite++;
			became_active();
			return 0;
		}
	}
	mon_count(HS_MON_CNT_HELD_OVERFLOW);
	return 0;
}

static __always_inline void write_slow_hold(void *ctx, struct mon_task *st, int i, __u64 mm, __u64 cgroup, __u64 held_ns,
					    __u64 now)
{
	struct hs_mon_slow_hold *r = bpf_ringbuf_reserve(&slow_holds, sizeof(*r), 0);
	if (!r) {
		mon_count(HS_MON_CNT_SLOW_LOST);
		return;
	}
	__u64 id = bpf_get_current_pid_tgid();
	r->end_ts = now;
	r->held_ns = held_ns;
	r->mm = mm;
	r->cgroup = cgroup;
	r->work.pages = st->total.pages - st->total_at[i].pages;
	r->work.slabs = st->total.slabs - st->total_at[i].slabs;
	r->work.kmallocs = st->total.kmallocs - st->total_at[i].kmallocs;
	r->work.may_sleep = st->total.may_sleep - st->total_at[i].may_sleep;
	r->work.reclaims = st->total.reclaims - st->total_at[i].reclaims;
	r->work.reclaim_ns = st->total.reclaim_ns - st->total_at[i].reclaim_ns;
	r->work.compactions = st->total.compactions - st->total_at[i].compactions;
	r->work.lru_drains = st->total.lru_drains - st->total_at[i].lru_drains;
	r->tid = (__u32)id;
	r->tgid = id >> 32;
	r->write = st->held_write[i];
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->stack_id = bpf_get_stackid(ctx, &mon_stacks, 0);
	if (r->stack_id < 0)
		mon_count(HS_MON_CNT_STACK_FAIL);
	bpf_ringbuf_submit(r, 0);
}

/* A hold's end: its hold and wait (the wait is known since the acquisition, and added now so that one lookup of the
 * group's entry serves both) and, at the task's last release, the work it did under the lock. */
static __always_inline int lock_released(void *ctx, __u64 mm)
{
	if (!hs_enabled)
		return 0;
	struct mon_task *st = mon_state(false);
	if (!st || !st->nheld)
		return 0; /* acquired before monitoring began, or not monitored */
	__u64 now = bpf_ktime_get_ns();
	for (int i = 0; i < HS_MON_MAX_HELD; i++) {
		if (st->held_mm[i] != mm)
			continue;
		__u64 held_ns = now - st->held_ts[i];
		__u64 cgroup = memcg_of_current(st);
		int m = st->held_write[i] ? 1 : 0;
		struct hs_mon_group *g = group_of(cgroup);
		if (g) {
			add_to_hist(&g->hold[m], held_ns);
			if (st->held_waited[i])
				add_to_hist(&g->wait[m], st->held_wait_ns[i]);
		}
		if (threshold_ns && held_ns >= threshold_ns)
			write_slow_hold(ctx, st, i, mm, cgroup, held_ns, now);
		if (st->held_write[i] && st->nwrite)
			st->nwrite--;
		st->held_mm[i] = 0;
		st->held_write[i] = 0;
		st->held_waited[i] = 0;
		st->nheld--;
		if (st->nheld == 0 && g)
			fold_work(st, g);
		break;
	}
	return 0;
}

/* The current task's state when it holds an mmap_lock, else NULL: the allocator programs' filter. */
static __always_inline struct mon_task *holding_state(void)
{
	if (!hs_enabled)
		return NULL;
	__u32 zero = 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct idle_task *c = bpf_map_lookup_elem(&idle_tasks, &zero);
	if (c && known_idle(c, t))
		return NULL;
	struct mon_task *st = bpf_task_storage_get(&mon_tasks, t, 0, 0);
	if (st && st->nheld)
		return st;
	if (c)
		remember_idle(c, t);
	return NULL;
}

/* Counts one piece of work in the task's state, under the mode it holds: what->field += n. */
#define COUNT_UNDER_LOCK(st, field, n)                                          \
	do {                                                                    \
		(st)->work[(st)->nwrite ? 1 : 0].field += (n);                  \
		if (threshold_ns)                                               \
			(st)->total.field += (n);                               \
	} while (0)

static __always_inline void count_alloc_gfp(struct mon_task *st, __u64 gfp)
{
	if (!gfp_direct_reclaim || (gfp & gfp_direct_reclaim))
		COUNT_UNDER_LOCK(st, may_sleep, 1);
}

/* The tracepoints' argument layouts: as in holdscope.bpf.c (the loader picks the _memcg variant up to 6.13). */
SEC("raw_tp/mmap_lock_start_locking")
int hm_lock_start(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_start(ctx->args[0]);
}

SEC("raw_tp/mmap_lock_start_locking")
int hm_lock_start_memcg(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_start(ctx->args[0]);
}

SEC("raw_tp/mmap_lock_acquire_returned")
int hm_lock_acquired(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_acquired(ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("raw_tp/mmap_lock_acquire_returned")
int hm_lock_acquired_memcg(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_acquired(ctx->args[0], ctx->args[2], ctx->args[3]);
}

SEC("raw_tp/mmap_lock_released")
int hm_lock_released(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_released(ctx, ctx->args[0]);
}

SEC("raw_tp/mmap_lock_released")
int hm_lock_released_memcg(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_released(ctx, ctx->args[0]);
}

SEC("raw_tp/mm_page_alloc")
int hm_page_alloc(struct bpf_raw_tracepoint_args *ctx)
{
	struct mon_task *st = holding_state();
	if (!st)
		return 0;
	COUNT_UNDER_LOCK(st, pages, 1);
	count_alloc_gfp(st, (__u32)ctx->args[2]);
	return 0;
}

SEC("raw_tp/kmem_cache_alloc")
int hm_slab_alloc(struct bpf_raw_tracepoint_args *ctx)
{
	struct mon_task *st = holding_state();
	if (!st)
		return 0;
	COUNT_UNDER_LOCK(st, slabs, 1);
	count_alloc_gfp(st, ctx->args[3]);
	return 0;
}

SEC("raw_tp/kmalloc")
int hm_kmalloc(struct bpf_raw_tracepoint_args *ctx)
{
	struct mon_task *st = holding_state();
	if (!st)
		return 0;
	COUNT_UNDER_LOCK(st, kmallocs, 1);
	count_alloc_gfp(st, (__u32)ctx->args[4]);
	return 0;
}

static __always_inline int reclaim_begin(void)
{
	struct mon_task *st = holding_state();
	if (!st)
		return 0;
	st->reclaim_ts = bpf_ktime_get_ns();
	COUNT_UNDER_LOCK(st, reclaims, 1);
	return 0;
}

static __always_inline int reclaim_end(void)
{
	struct mon_task *st = holding_state();
	if (!st || !st->reclaim_ts)
		return 0;
	__u64 ns = bpf_ktime_get_ns() - st->reclaim_ts;
	st->reclaim_ts = 0;
	COUNT_UNDER_LOCK(st, reclaim_ns, ns);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int hm_reclaim_begin(void *ctx)
{
	return reclaim_begin();
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_end")
int hm_reclaim_end(void *ctx)
{
	return reclaim_end();
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_begin")
int hm_memcg_reclaim_begin(void *ctx)
{
	return reclaim_begin();
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_end")
int hm_memcg_reclaim_end(void *ctx)
{
	return reclaim_end();
}

SEC("tp/compaction/mm_compaction_begin")
int hm_compact_begin(void *ctx)
{
	struct mon_task *st = holding_state();
	if (st)
		COUNT_UNDER_LOCK(st, compactions, 1);
	return 0;
}

SEC("tp/workqueue/workqueue_queue_work")
int hm_queue_work(struct trace_event_raw_workqueue_queue_work *ctx)
{
	if (!lru_drain_fn || (__u64)ctx->function != lru_drain_fn)
		return 0;
	struct mon_task *st = holding_state();
	if (st)
		COUNT_UNDER_LOCK(st, lru_drains, 1);
	return 0;
}

/* The last release of a task that exits holding a lock (a killed task's mmap_lock is released on its way out, so this
 * is rare) never comes: its work is added now. */
SEC("tp/sched/sched_process_exit")
int hm_exit(void *ctx)
{
	struct mon_task *st = mon_state(false);
	if (!st || !st->nheld)
		return 0;
	struct hs_mon_group *g = group_of(memcg_of_current(st));
	if (g)
		fold_work(st, g);
	return 0;
}
