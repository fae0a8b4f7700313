// SPDX-License-Identifier: GPL-2.0
/*
 * holdscope: mmap_lock holds and the sleeping work done under them, from tracepoints only.
 *
 * The kernel side keeps just enough per-task state (task-local storage) to know whether the current task holds an
 * mmap_lock, so that the frequent allocator events are dropped in one lookup unless they happen under the lock.
 * Lock events are streamed, batched per CPU: the analyzer pairs them, because wait attribution needs correlation
 * across tasks that cannot be done per event in the kernel. Allocations under the lock are counted here by call path;
 * only those the analyzer must correlate (inside fentry brackets, slow-path closers, huge pages, anon_vma_clone's
 * chain allocations) are streamed.
 *
 * The hot tracepoints are attached raw (raw_tp): the program gets the tracepoint's arguments as they are passed, and
 * the kernel skips building the classic event record, which costs more than most of these programs do.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "holdscope_events.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u8 filter_targets = 0;   /* 0: whole system; 1: only targets (tgids) and their mms */
const volatile __u64 filter_cgroup = 0;   /* --cgroup: only the lock events of tasks in this memory cgroup (its id) */
/* 0: no lock stacks; 1: the stack of every acquisition; 2: the stack at the release of holds of at least
 * stack_min_hold_ns (the default: a stack walk per acquisition is most of the cost of tracing a lock-heavy load, and
 * the holds worth a stack are the long ones). */
const volatile __u8 lock_stacks = 2;
const volatile __u64 stack_min_hold_ns = 100000;
/* Allocation stacks, the other large cost: 0 none; 1 a walk for the first allocation of each call path and lock mode
 * and one in every HS_STACK_REFRESH after it, the others reuse the latest walk (count_alloc for counted allocations,
 * cached_stack for streamed ones); 2 a walk per allocation. */
const volatile __u8 alloc_stacks = 1;
/* record --stream-allocs: every allocation under the lock is streamed with its time, for a timeline, rather than
 * counted in the kernel. Off, the verifier drops the branches it guards. */
const volatile __u8 stream_allocs = 0;
/* Wake the consumer only once this much is waiting: a wakeup per event costs more than the event. User space polls
 * with a timeout, so nothing waits longer than that. */
const volatile __u64 wakeup_bytes = 1 << 20;
const volatile __u64 lru_drain_fn = 0;    /* address of lru_add_drain_per_cpu from /proc/kallsyms */
/* anon_vma_clone's text [lo, hi), from /proc/kallsyms: its anon_vma_chain allocations are always streamed, for the
 * anon_vma_clone inference. Unknown (0): told by the cache's name instead, at the cost of a lookup per allocation. */
const volatile __u64 clone_fn_lo = 0;
const volatile __u64 clone_fn_hi = 0;
const volatile __u64 gfp_direct_reclaim = 0; /* __GFP_DIRECT_RECLAIM on this kernel (tracefs); 0 if unknown */
/* Per fentry/fexit slot: whether its function's first argument is the mm it works on (collapse_huge_page), and whether
 * every entry takes a stack (rare functions) rather than only entries under mmap_lock. */
const volatile __u8 slot_arg0_mm[HS_FN_SLOTS] = {};
const volatile __u8 slot_stack_always[HS_FN_SLOTS] = {};

/* Flipped by user space once every program is attached, so a run starts at one instant for all tracepoints. */
volatile __u32 hs_enabled = 0;
/* Bumped by every rename: a task whose cached name is older caches it again at its next acquisition. */
volatile __u32 rename_gen = 0;

/* Each concern in its own header, included in the order of their dependencies; they use the configuration above. */
#include "counters.bpf.h"
#include "task_state.bpf.h"
#include "stacks.bpf.h"
#include "scope.bpf.h"
#include "emit.bpf.h"
#include "alloc_tally.bpf.h"
#include "slab_cache.bpf.h"

/* The start of an acquisition is kept in the task's state and travels with the acquisition (in the hold record, or
 * in an acquire record's arg with HS_ACQ_F_HAS_START), so it costs no record of its own. The analyzer puts the start
 * back in its place and tells who held the lock meanwhile from the holds it saw. Only a task with no state (the
 * storage could not be allocated) streams its start separately. */
static __always_inline int lock_start(void *ctx, __u64 mm, bool write)
{
	if (!hs_enabled)
		return 0;
	if (!in_scope(mm))
		return 0;
	struct task_state *st = my_state(true);
	if (st) {
		st->start_mm = mm;
		st->start_ts = bpf_ktime_get_ns();
		return 0;
	}
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_LOCK_START);
	if (!e)
		return 0;
	e->mm = mm;
	e->write = write;
	submit(b, e);
	return 0;
}

/* The start the task's state kept for its acquisition of mm (0: not seen); the acquisition under way ends here. */
static __always_inline __u64 take_start(struct task_state *st, __u64 mm)
{
	__u64 start_ts = 0;
	if (st) {
		if (st->start_mm == mm)
			start_ts = st->start_ts;
		st->start_mm = 0;
	}
	return start_ts;
}

/* The write part of a downgraded hold whose acquisition was not written yet. */
struct unwritten_write_part {
	bool found;
	__u64 acquired;
	__u64 start;
};

/* mmap_write_downgrade emits acquire_returned(write=false) while the write hold is ours: that hold becomes a read
 * hold. Returns whether this acquisition is such a downgrade; w is found when the write part's acquisition is not
 * written yet. */
static __always_inline bool downgrade_hold(struct task_state *st, __u64 mm, bool write,
					   struct unwritten_write_part *w)
{
	bool downgrade = false;
	for (int i = 0; i < HS_MAX_HELD; i++) {
		if (st->held_mm[i] == mm && st->held_write[i] && !write) {
			st->held_write[i] = 0;
			downgrade = true;
			if (st->unwritten & (1 << i)) {
				st->unwritten &= ~(1 << i);
				w->found = true;
				w->acquired = st->held_ts[i];
				w->start = st->held_start[i];
			}
			break;
		}
	}
	return downgrade;
}

/* The write part and the downgrade in one record: a hold record that ends in a downgrade (HS_HOLD_F_DOWNGRADE). The
 * analyzer then knows the read part, whose release is a release record. */
static __always_inline int write_downgraded_hold(__u64 mm, const struct unwritten_write_part *w, __u64 now)
{
	struct hs_batch *b;
	struct hs_event *e = reserve_at(&b, HS_EV_LOCK_HOLD, now);
	if (!e)
		return 0;
	e->mm = mm;
	e->write = 1;
	e->arg = w->acquired;
	e->arg2 = w->start;
	e->flag = HS_HOLD_F_DOWNGRADE | (w->start ? HS_HOLD_F_HAS_START : 0);
	submit(b, e);
	return 0;
}

/* Enters a new hold in the task's table; a full table is counted, and the hold goes untracked. Returns whether its
 * acquire record is left unwritten for now. write comes as stored (1 write, 0 read), converted from bool by
 * lock_acquired: converted here, it compiled to other instructions than the tested ones. */
static __always_inline bool add_hold(struct task_state *st, __u64 mm, __u8 write, __u64 now, __u64 start_ts)
{
	int slot = -1;
	for (int i = 0; i < HS_MAX_HELD; i++) {
		if (st->held_mm[i] == 0) {
			slot = i;
			break;
		}
	}
	if (slot >= 0 && slot < HS_MAX_HELD) {
		st->held_mm[slot] = mm;
		st->held_ts[slot] = now;
		st->held_start[slot] = start_ts;
		st->held_write[slot] = write;
		st->nheld++;
		became_active();
		/* The acquisition is written with its release, as one hold record, unless a record streamed inside the
		 * hold needs it earlier (reserve): one record per hold instead of two, and no record written when the lock
		 * is taken. Acquisition stacks are taken now, so they go now. */
		if (lock_stacks != 1) {
			st->unwritten |= 1 << slot;
			return true;
		}
	} else {
		count(HS_CNT_HELD_OVERFLOW);
	}
	return false;
}

/* The acquire record written now: a failed attempt, a downgrade, an acquisition with its stack (lock_stacks 1), or
 * one the task's state could not keep. write as in add_hold. */
static __always_inline int write_acquire(void *ctx, __u64 mm, __u8 write, bool success, bool downgrade,
					 __u64 start_ts, __u64 now)
{
	struct hs_batch *b;
	struct hs_event *e = reserve_at(&b, HS_EV_LOCK_ACQUIRED, now);
	if (!e)
		return 0;
	e->mm = mm;
	e->write = write;
	e->flag = (success ? HS_ACQ_F_SUCCESS : 0) | (downgrade ? HS_ACQ_F_DOWNGRADE : 0) |
		  (start_ts ? HS_ACQ_F_HAS_START : 0);
	e->arg = start_ts;
	if (success && !downgrade && lock_stacks == 1)
		e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

/* An acquisition by the current task, a failed attempt or a downgrade. Most write no record now (add_hold). */
static __always_inline int lock_acquired(void *ctx, __u64 mm, bool write, bool success)
{
	if (!hs_enabled)
		return 0;
	if (!in_scope(mm))
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	bool downgrade = false;
	__u64 now = bpf_ktime_get_ns();
	struct task_state *st = my_state(true);
	__u64 start_ts = take_start(st, mm);
	if (success && st) {
		struct unwritten_write_part w = {};
		downgrade = downgrade_hold(st, mm, write, &w);
		remember_comm(st, tid, id >> 32);
		if (w.found)
			return write_downgraded_hold(mm, &w, now);
		if (!downgrade && add_hold(st, mm, write, now, start_ts))
			return 0;
	}
	return write_acquire(ctx, mm, write, success, downgrade, start_ts, now);
}

/* The HS_LONGEST_PER_CPU longest holds seen on each CPU. The report names the stacks of the longest holds only, and
 * those are among the longest of the CPU they ended on: once the table is warm, a stack walk at release (a few us) is
 * rare, however many holds pass --stack-min-hold-us. */
#define HS_LONGEST_PER_CPU 32
struct longest {
	__u64 ns[HS_LONGEST_PER_CPU];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct longest);
} longest_holds SEC(".maps");

static __always_inline bool among_longest(__u64 ns)
{
	__u32 zero = 0;
	struct longest *l = bpf_map_lookup_elem(&longest_holds, &zero);
	if (!l)
		return true;
	int min = 0;
	for (int i = 1; i < HS_LONGEST_PER_CPU; i++)
		if (l->ns[i] < l->ns[min])
			min = i;
	if (ns <= l->ns[min])
		return false;
	l->ns[min] = ns;
	return true;
}

static __always_inline int lock_released(void *ctx, __u64 mm, bool write)
{
	if (!hs_enabled)
		return 0;
	if (!in_scope(mm))
		return 0;
	struct task_state *st = my_state(false);
	__u64 held_ns = 0, acquired = 0, start = 0;
	bool hold_record = false;
	__u64 now = bpf_ktime_get_ns();
	if (st) {
		for (int i = 0; i < HS_MAX_HELD; i++) {
			if (st->held_mm[i] == mm) {
				acquired = st->held_ts[i];
				held_ns = now - acquired;
				if (st->unwritten & (1 << i)) {
					st->unwritten &= ~(1 << i);
					hold_record = true;
					start = st->held_start[i];
					write = st->held_write[i];
				}
				st->held_mm[i] = 0;
				st->held_write[i] = 0;
				if (st->nheld)
					st->nheld--;
				break;
			}
		}
	}
	struct hs_batch *b;
	struct hs_event *e = reserve_at(&b, hold_record ? HS_EV_LOCK_HOLD : HS_EV_LOCK_RELEASED, now);
	if (!e)
		return 0;
	e->mm = mm;
	e->write = write;
	if (hold_record) {
		e->arg = acquired;
		e->arg2 = start;
		e->flag = start ? HS_HOLD_F_HAS_START : 0;
	}
	if (lock_stacks == 2 && held_ns >= stack_min_hold_ns && among_longest(held_ns))
		e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

/* The mmap_lock tracepoints pass (mm, write[, success]) from 6.14 and (mm, memcg_path, write[, success]) before: a
 * raw_tp program may read only as many arguments as its tracepoint has, so each comes twice and the loader loads the
 * one the kernel's BTF (btf_trace_mmap_lock_*) asks for. */
SEC("raw_tp/mmap_lock_start_locking")
int hs_lock_start(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_start(ctx, ctx->args[0], ctx->args[1]);
}

SEC("raw_tp/mmap_lock_start_locking")
int hs_lock_start_memcg(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_start(ctx, ctx->args[0], ctx->args[2]);
}

SEC("raw_tp/mmap_lock_acquire_returned")
int hs_lock_acquired(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_acquired(ctx, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("raw_tp/mmap_lock_acquire_returned")
int hs_lock_acquired_memcg(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_acquired(ctx, ctx->args[0], ctx->args[2], ctx->args[3]);
}

SEC("raw_tp/mmap_lock_released")
int hs_lock_released(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_released(ctx, ctx->args[0], ctx->args[1]);
}

SEC("raw_tp/mmap_lock_released")
int hs_lock_released_memcg(struct bpf_raw_tracepoint_args *ctx)
{
	return lock_released(ctx, ctx->args[0], ctx->args[2]);
}

/* hs_page_alloc and hs_kmalloc store their bool failed as the flag itself, so HS_ALLOC_F_FAILED must stay bit 0:
 * spelled as a conditional, the store compiled to other instructions than the tested ones. */
_Static_assert(HS_ALLOC_F_FAILED == 1, "allocation records store failed as their flag");

/* (page, order, gfp, migratetype) on 6.1, 6.12 and 6.18; the loader checks the argument count. */
SEC("raw_tp/mm_page_alloc")
int hs_page_alloc(struct bpf_raw_tracepoint_args *ctx)
{
	if (!hs_enabled)
		return 0;
	struct task_state *st = active_state();
	__u32 order = (__u32)ctx->args[1];
	/* Huge pages are streamed whatever the lock state: where khugepaged allocates them relative to mmap_lock is
	 * the question of the khugepaged section, and the answer since the fix is "with no lock held". */
	if (!st && order < HS_HUGE_ORDER)
		return 0;
	bool closes = st && st->slow_open;
	if (closes)
		st->slow_open = 0;
	__u8 mode = st ? lock_mode(st) : 0;
	__u64 gfp = (__u32)ctx->args[2];
	bool failed = ctx->args[0] == 0;
	if (st && mode && !closes && !st->inside && order < HS_HUGE_ORDER && !stream_allocs) {
		struct hs_alloc_key ak = {.site = entry_key(), .what = order, .gfp = gfp, .kind = HS_ALLOC_PAGE, .mode = mode,
			.cgroup = st->cgroup};
		if (count_alloc(ctx, st, &ak, failed))
			return 0;
	}
	struct path_key k = {entry_key(), (gfp << 16) | (order << 8) | mode | (1ull << 7)};
	__s32 sid = cached_stack(ctx, &k);
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_PAGE_ALLOC);
	if (!e)
		return 0;
	e->order = order;
	e->arg = gfp;
	e->flag = failed; /* HS_ALLOC_F_FAILED: see the _Static_assert above hs_page_alloc */
	e->stack_id = sid;
	submit(b, e);
	return 0;
}

/* raw_tp because the classic event has the cache name only from 6.18; (call_site, ptr, s, gfp, node) is the same
 * prototype on 6.1, 6.12 and 6.18. */
SEC("raw_tp/kmem_cache_alloc")
int hs_slab_alloc(struct bpf_raw_tracepoint_args *ctx)
{
	if (!hs_enabled)
		return 0;
	struct task_state *st = active_state();
	if (!st)
		return 0;
	__u64 call_site = ctx->args[0];
	__u64 ptr = ctx->args[1];
	struct kmem_cache *s = (struct kmem_cache *)ctx->args[2];
	__u64 gfp = ctx->args[3];
	__u64 key = (__u64)s;
	__u8 mode = lock_mode(st);
	bool stream = st->inside || (stream_allocs && mode);
	/* The anon_vma_clone inference needs a failed NOWAIT try and the allocation after it, in order; the NOWAIT tries
	 * that succeed (nearly all of them) are only counted, here. */
	if (clone_fn_hi)
		stream = stream || (call_site >= clone_fn_lo && call_site < clone_fn_hi &&
				    (ptr == 0 || !gfp_direct_reclaim || (gfp & gfp_direct_reclaim)));
	else
		stream = stream || cache_info(key);
	if (!mode && !stream)
		return 0; /* only a slow-path episode is open: not under the lock, nothing to correlate */
	if (!stream) {
		struct hs_alloc_key ak = {.site = call_site, .what = key, .gfp = gfp, .kind = HS_ALLOC_SLAB, .mode = mode,
			.cgroup = st->cgroup};
		int counted = count_alloc(ctx, st, &ak, ptr == 0);
		if (counted == 2)
			cache_info(key); /* a new path: its cache must have a name in the recording */
		if (counted)
			return 0;
	}
	cache_info(key);
	struct path_key k = {call_site, mode};
	__s32 sid = cached_stack(ctx, &k);
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_SLAB_ALLOC);
	if (!e)
		return 0;
	e->arg = gfp;
	e->arg2 = key;
	e->arg3 = call_site;
	e->flag = ptr == 0 ? HS_ALLOC_F_FAILED : 0;
	e->stack_id = sid;
	submit(b, e);
	return 0;
}

/* (call_site, ptr, bytes_req, bytes_alloc, gfp, node) on 6.1, 6.12 and 6.18; the loader checks the argument count. */
SEC("raw_tp/kmalloc")
int hs_kmalloc(struct bpf_raw_tracepoint_args *ctx)
{
	if (!hs_enabled)
		return 0;
	struct task_state *st = active_state();
	if (!st)
		return 0;
	__u8 mode = lock_mode(st);
	if (!mode && !st->inside)
		return 0;
	__u64 call_site = ctx->args[0];
	bool failed = ctx->args[1] == 0;
	__u64 bytes_alloc = ctx->args[3];
	__u64 gfp = (__u32)ctx->args[4];
	if (!st->inside && !stream_allocs) {
		struct hs_alloc_key ak = {
			.site = call_site, .what = bytes_alloc, .gfp = gfp, .kind = HS_ALLOC_KMALLOC, .mode = mode,
			.cgroup = st->cgroup};
		if (count_alloc(ctx, st, &ak, failed))
			return 0;
	}
	struct path_key k = {call_site, mode};
	__s32 sid = cached_stack(ctx, &k);
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_KMALLOC);
	if (!e)
		return 0;
	e->arg = gfp;
	e->arg2 = bytes_alloc;
	e->arg3 = call_site;
	e->flag = failed; /* HS_ALLOC_F_FAILED: see the _Static_assert above hs_page_alloc */
	e->stack_id = sid;
	submit(b, e);
	return 0;
}

/* Direct reclaim and direct compaction happen only in the allocator's slow path: they open an episode that the task's
 * next page allocation closes, so the slow path is seen (inferred) whether or not a lock is held. */
static __always_inline bool open_slow_path(void)
{
	if (!hs_enabled)
		return false;
	struct task_state *st = my_state(false);
	if (!st) {
		if (!task_in_scope())
			return false;
		st = my_state(true);
		if (!st)
			return false;
	}
	st->slow_open = 1;
	became_active();
	return true;
}

static __always_inline int reclaim_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx, __u8 memcg)
{
	if (memcg ? !current_is_active() : !open_slow_path())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_RECLAIM_BEGIN);
	if (!e)
		return 0;
	e->order = ctx->order;
	e->arg = ctx->gfp_flags;
	e->flag = memcg ? HS_RECLAIM_F_MEMCG : 0;
	e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

static __always_inline int reclaim_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx, __u8 memcg)
{
	if (!current_is_active())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_RECLAIM_END);
	if (!e)
		return 0;
	e->arg = ctx->nr_reclaimed;
	e->flag = memcg ? HS_RECLAIM_F_MEMCG : 0;
	submit(b, e);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int hs_reclaim_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	return reclaim_begin(ctx, 0);
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_end")
int hs_reclaim_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	return reclaim_end(ctx, 0);
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_begin")
int hs_memcg_reclaim_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	return reclaim_begin(ctx, 1);
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_end")
int hs_memcg_reclaim_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	return reclaim_end(ctx, 1);
}

SEC("tp/compaction/mm_compaction_begin")
int hs_compact_begin(void *ctx)
{
	if (!current_is_active())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_COMPACT_BEGIN);
	if (!e)
		return 0;
	e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

SEC("tp/compaction/mm_compaction_try_to_compact_pages")
int hs_compact_try(struct trace_event_raw_mm_compaction_try_to_compact_pages *ctx)
{
	if (!open_slow_path())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_COMPACT_TRY);
	if (!e)
		return 0;
	e->order = ctx->order;
	e->arg = ctx->gfp_mask;
	submit(b, e);
	return 0;
}

SEC("tp/compaction/mm_compaction_end")
int hs_compact_end(struct trace_event_raw_mm_compaction_end *ctx)
{
	if (!current_is_active())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_COMPACT_END);
	if (!e)
		return 0;
	e->arg = (__u64)(__s64)ctx->status;
	submit(b, e);
	return 0;
}

/* LRU drains are rare, so every one in scope is streamed, under the lock or not: the migrate-prep question is
 * precisely which side of the lock they fall on. */
SEC("tp/workqueue/workqueue_queue_work")
int hs_queue_work(struct trace_event_raw_workqueue_queue_work *ctx)
{
	if (!hs_enabled || !lru_drain_fn || (__u64)ctx->function != lru_drain_fn)
		return 0;
	if (filter_targets && !current_is_active()) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (!bpf_map_lookup_elem(&targets, &tgid))
			return 0;
	}
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_LRU_DRAIN);
	if (!e)
		return 0;
	e->target_cpu = ctx->cpu;
	e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

/* khugepaged works on other processes' mms: scope by mm. */
SEC("tp/huge_memory/mm_collapse_huge_page")
int hs_collapse(struct trace_event_raw_mm_collapse_huge_page *ctx)
{
	if (!hs_enabled)
		return 0;
	__u64 mm = (__u64)ctx->mm;
	if (!in_scope(mm))
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_COLLAPSE);
	if (!e)
		return 0;
	e->mm = mm;
	e->arg = ctx->status;
	e->flag = ctx->isolated ? HS_COLLAPSE_F_ISOLATED : 0;
	submit(b, e);
	return 0;
}

SEC("tp/huge_memory/mm_khugepaged_scan_pmd")
int hs_scan_pmd(struct trace_event_raw_mm_khugepaged_scan_pmd *ctx)
{
	if (!hs_enabled)
		return 0;
	__u64 mm = (__u64)ctx->mm;
	if (!in_scope(mm))
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_SCAN_PMD);
	if (!e)
		return 0;
	e->mm = mm;
	e->arg = ctx->status;
	submit(b, e);
	return 0;
}

/* Direct mode: generic fentry/fexit slots. The loader points each used slot at a kernel function
 * (bpf_program__set_attach_target) and leaves the others unloaded, so one object serves every kernel. */
static __always_inline int fn_entry(__u64 *ctx, int slot)
{
	if (!hs_enabled)
		return 0;
	__u64 mm = 0;
	if (slot_arg0_mm[slot])
		bpf_get_func_arg(ctx, 0, &mm);
	/* A function working on a named mm is in scope by that mm, whoever calls it: khugepaged, once it has state from
	 * working on a target's mm, goes on to collapse other processes' pages, which are not the trace's. */
	if (filter_targets && mm && !task_in_scope() && !bpf_map_lookup_elem(&target_mms, &mm))
		return 0;
	struct task_state *st = my_state(false);
	if (!st) {
		if (!task_in_scope() && !(mm && bpf_map_lookup_elem(&target_mms, &mm)))
			return 0;
		st = my_state(true);
		if (!st)
			return 0;
	}
	if (st->inside < 255)
		st->inside++;
	became_active();
	__u8 mode = lock_mode(st);
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_FN_ENTRY);
	if (!e)
		return 0;
	e->arg = slot;
	e->mm = mm;
	e->flag = mode; /* HS_MODE_*, not bits */
	if (mode || slot_stack_always[slot])
		e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

static __always_inline int fn_exit(__u64 *ctx, int slot)
{
	if (!hs_enabled)
		return 0;
	struct task_state *st = my_state(false);
	if (!st || st->inside == 0)
		return 0; /* entered before tracing began, or out of scope */
	st->inside--;
	__u64 ret = 0;
	bpf_get_func_ret(ctx, &ret);
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_FN_EXIT);
	if (!e)
		return 0;
	e->arg = slot;
	e->arg2 = ret;
	submit(b, e);
	return 0;
}

#define HS_FN_SLOT(n)                                                                                                  \
	SEC("fentry") int hs_fentry_##n(__u64 *ctx) { return fn_entry(ctx, n); }                                       \
	SEC("fexit") int hs_fexit_##n(__u64 *ctx) { return fn_exit(ctx, n); }

HS_FN_SLOT(0)
HS_FN_SLOT(1)
HS_FN_SLOT(2)
HS_FN_SLOT(3)
HS_FN_SLOT(4)
HS_FN_SLOT(5)
HS_FN_SLOT(6)
HS_FN_SLOT(7)

/* Run by user space on each CPU (BPF_PROG_TEST_RUN) at every poll and at the end: writes out a batch that an idle CPU
 * would otherwise keep. */
SEC("raw_tp")
int hs_flush(void *ctx)
{
	__u32 zero = 0;
	struct hs_batch *b = bpf_map_lookup_elem(&batches, &zero);
	if (b && !b->busy) {
		b->busy = 1;
		flush(b);
		b->busy = 0;
	}
	return 0;
}

/* Writes the acquire records of task's holds still open whose acquisition is not written yet, which no release will
 * write: at the end of a trace, straight into the ring, as the iterator runs outside any batch. */
static __always_inline void write_open_acquisitions(struct task_struct *task, struct task_state *st)
{
	for (int i = 0; i < HS_MAX_HELD; i++) {
		if (!(st->unwritten & (1 << i)) || !st->held_mm[i])
			continue;
		st->unwritten &= ~(1 << i);
		struct hs_event e = {};
		fill_acquisition(&e, st, i);
		e.pid = task->pid;
		e.tgid = task->tgid;
		e.stack_id = -1;
		e.type = HS_EV_LOCK_ACQUIRED;
		e.cpu = bpf_get_smp_processor_id();
		/* user space consumes the ring once the iterator is done: no wakeup */
		count(bpf_ringbuf_output(&events, &e, sizeof(e), BPF_RB_NO_WAKEUP) ? HS_CNT_RINGBUF_DROPS : HS_CNT_EVENTS);
	}
}

/* Run by user space once tracing is off (an iterator over every task). It does two things, and is named (and attached
 * by user space, through the skeleton) after the first only: it adds what live tasks' tallies still hold, and it
 * writes the acquisitions of holds still open (write_open_acquisitions). */
SEC("iter/task")
int hs_fold_tallies(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	struct task_state *st = bpf_task_storage_get(&task_states, task, 0, 0);
	if (!st)
		return 0;
	fold_tally(st);
	write_open_acquisitions(task, st);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int hs_fork(struct bpf_raw_tracepoint_args *ctx)
{
	if (!filter_targets)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (cpid != ctgid)
		return 0; /* a new thread: already covered by its tgid */
	struct target t = {};
	if (bpf_map_update_elem(&targets, &ctgid, &t, BPF_ANY))
		count(HS_CNT_SCOPE_MAP_FULL);
	return 0;
}

/* A target process is forgotten when its group leader is freed: every thread has exited and the process has been
 * reaped, so no event of it can follow. Without this the map would fill with the dead of a long or forking command. */
SEC("raw_tp/sched_process_free")
int hs_free(struct bpf_raw_tracepoint_args *ctx)
{
	if (!filter_targets)
		return 0;
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	__u32 pid = BPF_CORE_READ(task, pid);
	if (pid != (__u32)BPF_CORE_READ(task, tgid))
		return 0;
	struct target *t = bpf_map_lookup_elem(&targets, &pid);
	if (!t)
		return 0;
	if (t->mm)
		forget_target_mm(t->mm, pid);
	bpf_map_delete_elem(&targets, &pid);
	return 0;
}

/* A task is reported by its latest name (after exec or prctl(PR_SET_NAME)), not the one it had at its first
 * acquisition: forget the cached name, and the next acquisition caches the new one. */
SEC("tp/task/task_rename")
int hs_rename(struct trace_event_raw_task_rename *ctx)
{
	__u32 tid = ctx->pid;
	bpf_map_delete_elem(&comms, &tid);
	__sync_fetch_and_add(&rename_gen, 1); /* the renamed task need not be the current one (/proc/TID/comm) */
	return 0;
}

SEC("tp/sched/sched_process_exit")
int hs_exit(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (filter_targets) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		/* signal->live reaches zero when the last thread exits (the leader or not): only then is the mm gone for
		 * good. The target itself stays until its process is freed (hs_free). */
		if (BPF_CORE_READ(task, signal, live.counter) == 0) {
			struct target *t = bpf_map_lookup_elem(&targets, &tgid);
			if (t && t->mm)
				forget_target_mm(t->mm, tgid);
		}
	}
	/* The storage goes with the task, so its tally is added now (also once tracing is off: the end-of-trace iterator
	 * may not find an exiting task); the event tells the analyzer to let go of the task too. */
	struct task_state *st = my_state(false);
	if (!st)
		return 0;
	fold_tally(st);
	if (!hs_enabled)
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve_for(st, &b, HS_EV_TASK_EXIT);
	if (e)
		submit(b, e);
	return 0;
}
