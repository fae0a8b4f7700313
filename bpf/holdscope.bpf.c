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

#define HS_MAX_HELD 4

/* Set by the loader before load. */
const volatile __u8 filter_targets = 0;   /* 0: whole system; 1: only targets (tgids) and their mms */
/* 0: no lock stacks; 1: the stack of every acquisition; 2: the stack at the release of holds of at least
 * stack_min_hold_ns (the default: a stack walk per acquisition is most of the cost of tracing a lock-heavy load, and
 * the holds worth a stack are the long ones). */
const volatile __u8 lock_stacks = 2;
const volatile __u64 stack_min_hold_ns = 100000;
/* Allocation stacks, the other large cost: 0 none; 1 a walk for the first allocation of each call path and lock mode
 * and one in every HS_STACK_REFRESH after it, the others reuse the latest walk (count_alloc for counted allocations,
 * cached_stack for streamed ones); 2 a walk per allocation. */
const volatile __u8 alloc_stacks = 1;
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

/* A task gets an entry the first time it takes an mmap_lock (or enters an observed function, or the slow path) and
 * keeps it until it exits: creating and deleting a hash entry per hold cost more than the rest of the lock handlers
 * together. What decides whether an allocator event is streamed is active(): a held mmap_lock, an open fentry bracket,
 * or a slow-path episode whose closing allocation is still to come. */
struct task_state {
	__u64 held_mm[HS_MAX_HELD];
	__u64 held_ts[HS_MAX_HELD];
	__u64 held_start[HS_MAX_HELD]; /* when the acquisition began (0: not seen), for a hold record */
	__u64 start_mm; /* an acquisition under way: its start travels in the acquire event */
	__u64 start_ts;
	__u8 held_write[HS_MAX_HELD];
	__u8 unwritten; /* bit i: hold i's acquisition is not written yet (see lock_acquired) */
	__u8 nheld;
	__u8 inside;    /* open fentry brackets */
	__u8 slow_open; /* direct reclaim or compaction began; the allocation that follows closes it */
	__u8 comm_known;
	__u32 comm_gen;
	__u64 rng;      /* xorshift state for the stack-refresh draw (0: not seeded yet) */
	/* Allocations under the lock counted by this task and not yet added to alloc_counts: the common case, a call path
	 * the task used before, is a compare and an increment in memory the lock programs keep warm, where a per-CPU table
	 * missed the cache. A slot is added to alloc_counts when another path takes it, at the stack refresh, when the
	 * task exits, and for every live task at the end (hs_fold_tallies). */
	struct hs_alloc_slot tally[HS_TALLY_SLOTS];
};

struct target {
	__u64 mm;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} events SEC(".maps");

/* Task-local storage: found from the task without hashing (the lookup every allocator event pays), no capacity to
 * run out of, and freed by the kernel with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, HS_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* A stack whose hash bucket is taken by another stack fails every time it recurs. A second map with twice the
 * buckets hashes it elsewhere, so only stacks colliding in both are lost (and counted). Ids from it carry
 * HS_STACK_ID_ALT. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 32768);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, HS_MAX_STACK_DEPTH * sizeof(__u64));
} stacks_alt SEC(".maps");

/* A call path, as far as it can be told without walking the stack: a slab/kmalloc call site (the allocating function)
 * or, for page allocations (whose tracepoint has no call site), the system call or fault the task is in, the gfp
 * flags and the order. With the lock mode it keys the stack cache. */
struct path_key {
	__u64 site;
	__u64 detail;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct path_key);
	__type(value, __s32);
} stack_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The traced command's processes and their mms. An entry goes when its process is freed (hs_free), so the maps hold
 * the processes alive at once, not all there ever were: sized for a busy server's process count. A process that finds
 * no room is not traced, and counted (HS_CNT_SCOPE_MAP_FULL). */
#define HS_MAX_TARGETS 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HS_MAX_TARGETS);
	__type(key, __u32); /* tgid */
	__type(value, struct target);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HS_MAX_TARGETS);
	__type(key, __u64); /* mm */
	__type(value, __u32);
} target_mms SEC(".maps");

/* Forgets mm as a target's, unless another target has it now (a freed mm's address can be reused). */
static __always_inline void forget_target_mm(__u64 mm, __u32 tgid)
{
	__u32 *owner = bpf_map_lookup_elem(&target_mms, &mm);
	if (owner && *owner == tgid)
		bpf_map_delete_elem(&target_mms, &mm);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, __u64); /* struct kmem_cache * */
	__type(value, struct hs_cache_info);
} caches SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32); /* tid */
	__type(value, struct hs_comm);
} comms SEC(".maps");

/* Per CPU: a shared counter would be a cache line bouncing between the CPUs on every allocation. Sized by the loader
 * to the number of CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hs_alloc_key);
	__type(value, struct hs_alloc_count);
} alloc_counts SEC(".maps");

/* The stack a call path's allocations under the lock are counted under (key: its hs_alloc_key with stack_id 0). Read
 * only when a path takes a tally slot, so one map for all CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hs_alloc_key);
	__type(value, __s32);
} alloc_paths SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		(*v)++;
}

/* The current task's state; with create, made on first use (NULL only if the kernel cannot allocate it, or when called
 * from inside the storage code itself, which is counted). */
static __always_inline struct task_state *my_state(bool create)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!create)
		return bpf_task_storage_get(&task_states, task, 0, 0);
	struct task_state *st = bpf_task_storage_get(&task_states, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		count(HS_CNT_TASK_MAP_FULL);
	return st;
}

static __always_inline bool active(const struct task_state *st)
{
	return st && (st->nheld || st->inside || st->slow_open);
}

/* The allocator programs run for every allocation on the system, most of them by tasks holding no lock, and the
 * storage lookup that tells them the task is idle was most of their cost. Each CPU remembers the last task it found
 * idle: the same task, not moved to another CPU since (its migration count unchanged), is still idle unless it became
 * active here, and everything that makes a task active (an acquisition, an fentry bracket, a slow path) forgets this
 * CPU's entry (became_active). A task is named by its tid and start time, which no later task shares. The release
 * does not write the entry: it runs inside the hold, where its time is paid again by every waiter; the task's next
 * allocation, outside the lock, does. */
struct idle_task {
	__u64 start_time;
	__u64 migrations;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct idle_task);
} idle_tasks SEC(".maps");

static __always_inline void remember_idle(struct idle_task *c, struct task_struct *t)
{
	c->tid = t->pid;
	c->start_time = t->start_time;
	c->migrations = t->se.nr_migrations;
}

/* The current task's state when it is active, else NULL (then nothing it allocates is under the lock). */
static __always_inline struct task_state *active_state(void)
{
	__u32 zero = 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct idle_task *c = bpf_map_lookup_elem(&idle_tasks, &zero);
	if (c && c->tid == t->pid && c->start_time == t->start_time && c->migrations == t->se.nr_migrations)
		return NULL;
	struct task_state *st = bpf_task_storage_get(&task_states, t, 0, 0);
	if (active(st))
		return st;
	if (c)
		remember_idle(c, t);
	return NULL;
}

/* After the state says active, not before: an interrupt's allocator program in between would otherwise find the
 * state idle and remember it so. */
static __always_inline void became_active(void)
{
	__u32 zero = 0;
	asm volatile("" ::: "memory");
	struct idle_task *c = bpf_map_lookup_elem(&idle_tasks, &zero);
	if (c)
		c->migrations = ~0ull; /* a count no task reaches */
}

/* 0: no mmap_lock, 1: read, 2: write (the strongest held). */
static __always_inline __u8 lock_mode(struct task_state *st)
{
	__u8 m = 0;
	for (int i = 0; i < HS_MAX_HELD; i++)
		if (st->held_mm[i])
			m = st->held_write[i] ? 2 : (m ? m : 1);
	return m;
}

static __always_inline __s32 stack_of(void *ctx);

/* The stack of a streamed allocation on call path k (see alloc_stacks and path_stack). Random rather than counted: a
 * per-key counter is a cache line every CPU writes. */
static __always_inline __s32 cached_stack(void *ctx, struct path_key *k)
{
	if (alloc_stacks == 0)
		return -1;
	if (alloc_stacks == 2)
		return stack_of(ctx);
	__s32 *c = bpf_map_lookup_elem(&stack_cache, k);
	if (c && *c >= 0 && bpf_get_prandom_u32() % HS_STACK_REFRESH != 0)
		return *c;
	__s32 sid = stack_of(ctx);
	if (sid >= 0 && (!c || *c != sid))
		bpf_map_update_elem(&stack_cache, k, &sid, BPF_ANY);
	return sid;
}

/* The system call the current task is in, or its user fault, for page allocations' path key: orig_ax is the syscall
 * number in a syscall and the error code in a fault; ax still holds -ENOSYS until a syscall returns. Kernel threads
 * have zeroed user registers. */
static __always_inline __u64 entry_key(void)
{
#if defined(__TARGET_ARCH_x86)
	/* A trusted pointer: plain loads, where BPF_CORE_READ would cost two helper calls on every page allocation under
	 * the lock. */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 orig = regs->orig_ax;
	__s64 ax = regs->ax;
	return (orig & 0xffffffff) | (ax == -38 ? 1ull << 32 : 0);
#else
	return 0;
#endif
}

/* Adds n allocations (failed of them failed) to the (path, stack) counts. Returns 2 when the entry is new, 1 when not,
 * 0 when the map is full. */
static __always_inline int count_archived(struct hs_alloc_key *k, __u64 n, __u64 failed)
{
	int r = 1;
	struct hs_alloc_count *c = bpf_map_lookup_elem(&alloc_counts, k);
	if (!c) {
		struct hs_alloc_count zero = {};
		bpf_map_update_elem(&alloc_counts, k, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&alloc_counts, k);
		if (!c)
			return 0;
		r = 2;
	}
	c->count += n;
	c->failed += failed;
	return r;
}

/* The stack path k's allocations are counted under: the latest walk for the path, a new walk when there is none or
 * walk is set. Two call chains that share a path share the walk of whichever came last; refreshing at random keeps
 * each chain's share of a path close to its share of the allocations. */
static __always_inline __s32 path_stack(void *ctx, struct hs_alloc_key *k, bool walk)
{
	if (!alloc_stacks)
		return -1;
	__s32 *c = bpf_map_lookup_elem(&alloc_paths, k);
	if (c && !walk)
		return *c;
	__s32 sid = stack_of(ctx);
	if (!c || *c != sid)
		bpf_map_update_elem(&alloc_paths, k, &sid, BPF_ANY); /* full: the path is walked again next time */
	return sid;
}

/* Adds a tally slot's counts to alloc_counts and empties it. The count is taken with an exchange: the task's exit and
 * the end-of-trace iterator may fold the same task at once. Counts that find alloc_counts full are counted as lost. */
static __noinline void fold_slot(struct hs_alloc_slot *s)
{
	if (!s->count)
		return;
	__u64 n = __sync_lock_test_and_set(&s->count, 0);
	__u64 failed = __sync_lock_test_and_set(&s->failed, 0);
	if (!n)
		return;
	struct hs_alloc_key k = s->key;
	if (!count_archived(&k, n, failed)) {
		__u32 idx = HS_CNT_ALLOC_MAP_FULL;
		__u64 *v = bpf_map_lookup_elem(&counters, &idx);
		if (v)
			*v += n;
	}
}

static __always_inline void fold_tally(struct task_state *st)
{
	for (int i = 0; i < HS_TALLY_SLOTS; i++)
		fold_slot(&st->tally[i]);
}

/* Path k takes tally slot s (see count_alloc), with its stack. Returns 2 (the path took its slot anew). */
static __noinline int take_slot(void *ctx, struct hs_alloc_slot *s, struct hs_alloc_key *k, bool failed, bool walk)
{
	fold_slot(s);
	k->stack_id = path_stack(ctx, k, walk);
	s->key = *k;
	s->failed = failed;
	s->count = 1;
	return 2;
}

static __always_inline bool slot_has(const struct hs_alloc_slot *s, const struct hs_alloc_key *k)
{
	return s->count && s->key.site == k->site && s->key.what == k->what && s->key.gfp == k->gfp &&
	       s->key.kind == k->kind && s->key.mode == k->mode;
}

/* Counts an allocation under the lock on call path k (stack_id 0) in the kernel: in the task's tally slot for the path
 * when it has one (a 2-way set chosen by a hash of the path), else in a slot the path takes, with the path's stack;
 * the set's older slot is folded to make room. A stack is walked for a path seen for the first time and for one use
 * in HS_STACK_REFRESH at random (every use with --exact-alloc-stacks). Returns 2 when the path took a slot anew (or,
 * exact, a new (path, stack)), 1 when counted in place, 0 when the count map is full (exact only: the caller streams
 * it). Inlined: the common case is a compare and an increment, and a call with the key in memory cost as much as the
 * rest. */
static __always_inline int count_alloc(void *ctx, struct task_state *st, struct hs_alloc_key *k, bool failed)
{
	if (alloc_stacks == 2) {
		k->stack_id = stack_of(ctx);
		return count_archived(k, 1, failed);
	}
	__u32 i = (__u32)(((k->site ^ (k->what << 7) ^ ((__u64)k->gfp << 17) ^ k->mode) * 0x9E3779B97F4A7C15ull) >> 60) &
		  (HS_TALLY_SLOTS / 2 - 1);
	struct hs_alloc_slot *set = &st->tally[i * 2];
	/* The refresh draw: a xorshift in the task's state, a few instructions where the random helper costs as much as
	 * the rest of the count. */
	__u64 x = st->rng;
	if (!x)
		x = bpf_get_prandom_u32() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rng = x;
	bool walk = alloc_stacks && (x >> 32) % HS_STACK_REFRESH == 0;
	for (int w = 0; w < 2; w++) {
		struct hs_alloc_slot *s = &set[w];
		if (slot_has(s, k)) {
			if (walk)
				return take_slot(ctx, s, k, failed, true); /* the count so far stays with the old stack */
			s->count++;
			s->failed += failed;
			return 1;
		}
	}
	fold_slot(&set[1]);
	set[1] = set[0];
	set[0].count = 0; /* now set[1]'s */
	set[0].failed = 0;
	return take_slot(ctx, &set[0], k, failed, walk);
}

/* Records are gathered per CPU and written to the ring buffer HS_BATCH at a time: a record written into this hot
 * per-CPU buffer costs a fraction of one reserved in the shared ring (whose lock and producer position every CPU
 * touches, and whose memory is cold), and most records are written while the traced task holds mmap_lock. A batch is
 * written when full, when its first record is HS_BATCH_MAX_AGE_NS old, and by user space (hs_flush, run on each CPU
 * every poll), so no record waits long; the analyzer's reorder window covers the delay. A program that runs nested
 * inside another on the same CPU (an interrupt) finds the batch busy and reserves in the ring directly. */
#define HS_BATCH_MAX_AGE_NS 10000000ull

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hs_batch);
} batches SEC(".maps");

static __always_inline void flush(struct hs_batch *b)
{
	__u32 n = b->n;
	if (n == 0)
		return;
	if (n > HS_BATCH)
		n = HS_BATCH;
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	long err = bpf_ringbuf_output(&events, b->rec, n * sizeof(struct hs_event),
				      avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	/* batched records are counted here, once per batch, not per record: one map less touched per event */
	__u32 idx = HS_CNT_EVENTS;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
	if (err) {
		idx = HS_CNT_RINGBUF_DROPS;
		v = bpf_map_lookup_elem(&counters, &idx);
		if (v)
			*v += n;
	}
	b->n = 0;
}

/* A record stamped now to fill: in this CPU's batch (*bp set, busy until submit) or, nested or full, in the ring
 * itself. */
static __always_inline struct hs_event *reserve_at(struct hs_batch **bp, __u16 type, __u64 now)
{
	__u32 zero = 0;
	struct hs_event *e = NULL;
	struct hs_batch *b = bpf_map_lookup_elem(&batches, &zero);
	*bp = NULL;
	if (b && !b->busy) {
		/* busy before n is read: an interrupt that comes in between then writes to the ring, not over this slot */
		b->busy = 1;
		__u32 n = b->n;
		if (n < HS_BATCH) {
			if (n == 0)
				b->first_ts = now;
			e = &b->rec[n];
			*bp = b;
		} else {
			b->busy = 0;
		}
	}
	if (!e) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count(HS_CNT_RINGBUF_DROPS);
			return NULL;
		}
	}
	__u64 id = bpf_get_current_pid_tgid();
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->stack_id = -1;
	return e;
}

static __always_inline void submit(struct hs_batch *b, struct hs_event *e)
{
	if (!b) {
		count(HS_CNT_EVENTS);
		__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		bpf_ringbuf_submit(e, avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
		return;
	}
	b->n++;
	/* signed: a record may carry an earlier time than the batch's first (an acquisition written late) */
	if (b->n >= HS_BATCH || (__s64)(e->ts - b->first_ts) >= (__s64)HS_BATCH_MAX_AGE_NS)
		flush(b);
	b->busy = 0;
}

static __always_inline void fill_acquisition(struct hs_event *e, const struct task_state *st, int i)
{
	e->ts = st->held_ts[i];
	e->mm = st->held_mm[i];
	e->arg = st->held_start[i];
	e->write = st->held_write[i];
	e->flag = 1 | (e->arg ? 4 : 0);
}

/* Writes the acquire records of the current task's holds whose acquisition is not written yet (see lock_acquired):
 * the analyzer must know a hold before any record streamed inside it. Rare: most holds stream nothing. */
static __noinline void write_acquisitions(struct task_state *st)
{
	for (int i = 0; i < HS_MAX_HELD; i++) {
		if (!(st->unwritten & (1 << i)))
			continue;
		st->unwritten &= ~(1 << i);
		if (!st->held_mm[i])
			continue;
		struct hs_batch *b;
		struct hs_event *e = reserve_at(&b, HS_EV_LOCK_ACQUIRED, bpf_ktime_get_ns());
		if (!e)
			continue;
		fill_acquisition(e, st, i);
		submit(b, e);
	}
}

static __always_inline void write_pending_acquisitions(struct task_state *st)
{
	if (st && st->unwritten)
		write_acquisitions(st);
}

/* A record for any event but the lock's own, by the task whose state is st: the analyzer tells from the holds it knows
 * whether it happened under the lock, so the task's unwritten acquisitions go first. */
static __always_inline struct hs_event *reserve_for(struct task_state *st, struct hs_batch **bp, __u16 type)
{
	write_pending_acquisitions(st);
	return reserve_at(bp, type, bpf_ktime_get_ns());
}

/* The same, for a program that has not looked the task's state up. */
static __always_inline struct hs_event *reserve(struct hs_batch **bp, __u16 type)
{
	return reserve_for(my_state(false), bp, type);
}

static __always_inline __s32 stack_of(void *ctx)
{
	long id = bpf_get_stackid(ctx, &stacks, 0);
	if (id >= 0)
		return (__s32)id;
	id = bpf_get_stackid(ctx, &stacks_alt, 0);
	if (id >= 0)
		return (__s32)(id | HS_STACK_ID_ALT);
	count(HS_CNT_STACK_FAIL);
	return -1;
}

/* Whether an mmap_lock event on mm belongs to what is traced. In target mode a kernel thread (khugepaged) working on
 * a target's mm is in scope through target_mms, which follows each target's current mm across exec. */
static __always_inline bool in_scope(__u64 mm)
{
	if (!filter_targets)
		return true;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct target *t = bpf_map_lookup_elem(&targets, &tgid);
	if (t) {
		if (t->mm != mm) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			__u64 cur = (__u64)BPF_CORE_READ(task, mm);
			if (cur == mm) {
				__u64 old = t->mm;
				if (old)
					forget_target_mm(old, tgid);
				t->mm = mm;
				if (bpf_map_update_elem(&target_mms, &mm, &tgid, BPF_ANY))
					count(HS_CNT_SCOPE_MAP_FULL);
			}
		}
		return true;
	}
	return bpf_map_lookup_elem(&target_mms, &mm) != NULL;
}

/* The name is cached once per task (and again after a rename), not looked up per acquisition. */
static __always_inline void remember_comm(struct task_state *st, __u32 tid, __u32 tgid)
{
	__u32 gen = rename_gen;
	if (st->comm_known && st->comm_gen == gen)
		return;
	struct hs_comm c = {};
	bpf_get_current_comm(c.comm, sizeof(c.comm));
	c.tgid = tgid;
	bpf_map_update_elem(&comms, &tid, &c, BPF_ANY);
	st->comm_known = 1;
	st->comm_gen = gen;
}

/* The start of an acquisition is kept in the task's state and travels with the acquisition (in the hold record, or
 * in an acquire record's arg with flag 4), so it costs no record of its own. The analyzer puts the start back in its
 * place and tells who held the lock meanwhile from the holds it saw. Only a task with no state (the storage could not
 * be allocated) streams its start separately. */
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
	__u64 start_ts = 0;

	struct task_state *st = my_state(true);
	if (st) {
		if (st->start_mm == mm)
			start_ts = st->start_ts;
		st->start_mm = 0;
	}
	if (success && st) {
		int slot = -1;
		bool downgrade_record = false;
		__u64 acquired = 0, start = 0;
		/* mmap_write_downgrade emits acquire_returned(write=false) while the write hold is ours. */
		for (int i = 0; i < HS_MAX_HELD; i++) {
			if (st->held_mm[i] == mm && st->held_write[i] && !write) {
				st->held_write[i] = 0;
				downgrade = true;
				if (st->unwritten & (1 << i)) {
					st->unwritten &= ~(1 << i);
					downgrade_record = true;
					acquired = st->held_ts[i];
					start = st->held_start[i];
				}
				break;
			}
		}
		remember_comm(st, tid, id >> 32);
		if (downgrade_record) {
			/* The write part and the downgrade in one record: a hold record that ends in a downgrade (flag 2).
			 * The analyzer then knows the read part, whose release is a release record. */
			struct hs_batch *b;
			struct hs_event *e = reserve_at(&b, HS_EV_LOCK_HOLD, now);
			if (!e)
				return 0;
			e->mm = mm;
			e->write = 1;
			e->arg = acquired;
			e->arg2 = start;
			e->flag = 2 | (start ? 4 : 0);
			submit(b, e);
			return 0;
		}
		if (!downgrade) {
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
				/* The acquisition is written with its release, as one hold record, unless a record streamed
				 * inside the hold needs it earlier (reserve): one record per hold instead of two, and no
				 * record written when the lock is taken. Acquisition stacks are taken now, so they go now. */
				if (lock_stacks != 1) {
					st->unwritten |= 1 << slot;
					return 0;
				}
			} else {
				count(HS_CNT_HELD_OVERFLOW);
			}
		}
	}

	struct hs_batch *b;
	struct hs_event *e = reserve_at(&b, HS_EV_LOCK_ACQUIRED, now);
	if (!e)
		return 0;
	e->mm = mm;
	e->write = write;
	e->flag = (success ? 1 : 0) | (downgrade ? 2 : 0) | (start_ts ? 4 : 0);
	e->arg = start_ts;
	if (success && !downgrade && lock_stacks == 1)
		e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
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
		e->flag = start ? 4 : 0;
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

/* The filter every allocator and reclaim event goes through: one lookup, nothing else, unless the task holds the lock,
 * is inside an observed function or in a slow-path episode. */
static __always_inline bool holding(void)
{
	if (!hs_enabled)
		return false;
	return active(my_state(false));
}

/* Outside any lock, only the traced processes count (the whole system when not filtering). */
static __always_inline bool task_in_scope(void)
{
	if (!filter_targets)
		return true;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

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
	if (st && mode && !closes && !st->inside && order < HS_HUGE_ORDER) {
		struct hs_alloc_key ak = {.site = entry_key(), .what = order, .gfp = gfp, .kind = HS_ALLOC_PAGE, .mode = mode};
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
	e->flag = failed;
	e->stack_id = sid;
	submit(b, e);
	return 0;
}

/* Two word compares: a byte loop here multiplied the verifier's states past its limit. */
static __always_inline bool is_chain_cache(const char *name)
{
	static const char chain[16] = "anon_vma_chain"; /* 14 characters, then NULs */
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, name, 8);
	__builtin_memcpy(&a1, name + 8, 8);
	__builtin_memcpy(&b0, chain, 8);
	__builtin_memcpy(&b1, chain + 8, 8);
	return a0 == b0 && (a1 & 0x00ffffffffffffffull) == (b1 & 0x00ffffffffffffffull);
}

/* Captures a slab cache's name and size the first time it is needed; returns whether its allocations are always
 * streamed. Not inlined: it is called from three places, and inlined it made the program too large to verify. */
static __noinline int cache_info(__u64 key)
{
	struct hs_cache_info *ci = bpf_map_lookup_elem(&caches, &key);
	if (ci)
		return ci->stream;
	struct kmem_cache *s = (struct kmem_cache *)key;
	struct hs_cache_info info = {};
	const char *name = BPF_CORE_READ(s, name);
	bpf_probe_read_kernel_str(info.name, sizeof(info.name), name);
	info.size = BPF_CORE_READ(s, size);
	info.stream = is_chain_cache(info.name);
	bpf_map_update_elem(&caches, &key, &info, BPF_NOEXIST);
	return info.stream;
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
	bool stream = st->inside;
	/* The anon_vma_clone inference needs a failed NOWAIT try and the allocation after it, in order; the NOWAIT tries
	 * that succeed (nearly all of them) are only counted, here. */
	if (clone_fn_hi)
		stream = stream || (call_site >= clone_fn_lo && call_site < clone_fn_hi &&
				    (ptr == 0 || !gfp_direct_reclaim || (gfp & gfp_direct_reclaim)));
	else
		stream = stream || cache_info(key);
	__u8 mode = lock_mode(st);
	if (!mode && !stream)
		return 0; /* only a slow-path episode is open: not under the lock, nothing to correlate */
	if (!stream) {
		struct hs_alloc_key ak = {.site = call_site, .what = key, .gfp = gfp, .kind = HS_ALLOC_SLAB, .mode = mode};
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
	e->flag = ptr == 0;
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
	if (!st->inside) {
		struct hs_alloc_key ak = {
			.site = call_site, .what = bytes_alloc, .gfp = gfp, .kind = HS_ALLOC_KMALLOC, .mode = mode};
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
	e->flag = failed;
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
	if (memcg ? !holding() : !open_slow_path())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_RECLAIM_BEGIN);
	if (!e)
		return 0;
	e->order = ctx->order;
	e->arg = ctx->gfp_flags;
	e->flag = memcg;
	e->stack_id = stack_of(ctx);
	submit(b, e);
	return 0;
}

static __always_inline int reclaim_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx, __u8 memcg)
{
	if (!holding())
		return 0;
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_RECLAIM_END);
	if (!e)
		return 0;
	e->arg = ctx->nr_reclaimed;
	e->flag = memcg;
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
	if (!holding())
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
	if (!holding())
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
	if (filter_targets && !holding()) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (!bpf_map_lookup_elem(&targets, &tgid))
			return 0;
	}
	struct hs_batch *b;
	struct hs_event *e = reserve(&b, HS_EV_LRU_DRAIN);
	if (!e)
		return 0;
	e->order = ctx->cpu;
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
	e->flag = ctx->isolated != 0;
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
	e->flag = mode;
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

/* Run by user space once tracing is off (an iterator over every task): adds what live tasks' tallies still hold, and
 * writes the acquisitions of holds still open, which no release will write. */
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
