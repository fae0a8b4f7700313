/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Allocations under the lock: counted in the kernel by call path and stack (a task's tally slots, folded into
 * alloc_counts), most of them under a stack walked for an earlier allocation on the same path; and the cached stack
 * of a streamed allocation. Only the allocations the analyzer must correlate are streamed; the others end here.
 * Uses the task's state (task_state.bpf.h), stack_of() (stacks.bpf.h), the counters (counters.bpf.h) and the
 * configuration alloc_stacks (holdscope.bpf.c).
 */
#pragma once

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

/* Adds n allocations (failed of them failed) to the (path, stack) counts in alloc_counts. Returns 2 when the entry is
 * new, 1 when not, 0 when the map is full. */
static __always_inline int add_to_alloc_counts(struct hs_alloc_key *k, __u64 n, __u64 failed)
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
	if (!add_to_alloc_counts(&k, n, failed)) {
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
		return add_to_alloc_counts(k, 1, failed);
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
