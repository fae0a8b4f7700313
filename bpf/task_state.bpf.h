/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-task state: the mmap_locks a task holds, its open fentry brackets and slow-path episode, its allocation tally
 * and cached name, with the per-CPU idle entry (idle_task.bpf.h) that spares the allocator programs the storage lookup
 * for a task that holds nothing. Everything that decides whether an event is under the lock starts here. Uses count()
 * (counters.bpf.h) and the configuration hs_enabled and rename_gen (holdscope.bpf.c).
 */
#pragma once

#include "idle_task.bpf.h"
#include "memcg.bpf.h"

#define HS_MAX_HELD 4

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
	__u8 unwritten; /* bit i: hold i's acquisition is not written yet (see add_hold) */
	__u8 nheld;
	__u8 inside;    /* open fentry brackets */
	__u8 slow_open; /* direct reclaim or compaction began; the allocation that follows closes it */
	__u8 comm_known;
	__u32 comm_gen;
	__u64 cgroup;   /* the task's memory cgroup, read with its name (remember_comm) */
	__u64 rng;      /* xorshift state for the stack-refresh draw (0: not seeded yet) */
	/* Allocations under the lock counted by this task and not yet added to alloc_counts: the common case, a call path
	 * the task used before, is a compare and an increment in memory the lock programs keep warm, where a per-CPU table
	 * missed the cache. A slot is added to alloc_counts when another path takes it, at the stack refresh, when the
	 * task exits, and for every live task at the end (hs_fold_tallies). */
	struct hs_alloc_slot tally[HS_TALLY_SLOTS];
};

/* Task-local storage: found from the task without hashing (the lookup every allocator event pays), no capacity to
 * run out of, and freed by the kernel with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

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

/* The current task's state when it is active, else NULL (then nothing it allocates is under the lock). */
static __always_inline struct task_state *active_state(void)
{
	__u32 zero = 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct idle_task *c = bpf_map_lookup_elem(&idle_tasks, &zero);
	if (c && known_idle(c, t))
		return NULL;
	struct task_state *st = bpf_task_storage_get(&task_states, t, 0, 0);
	if (active(st))
		return st;
	if (c)
		remember_idle(c, t);
	return NULL;
}

/* The filter of the reclaim, compaction and LRU-drain programs: one lookup, nothing else, unless tracing is on and the
 * task holds the lock, is inside an observed function or in a slow-path episode (active()). So not whether the task
 * holds a lock: true in a bracket or an episode with none held. */
static __always_inline bool current_is_active(void)
{
	if (!hs_enabled)
		return false;
	return active(my_state(false));
}

/* HS_MODE_NONE, HS_MODE_READ or HS_MODE_WRITE: the strongest mmap_lock held. */
static __always_inline __u8 lock_mode(struct task_state *st)
{
	__u8 m = HS_MODE_NONE;
	for (int i = 0; i < HS_MAX_HELD; i++)
		if (st->held_mm[i])
			m = st->held_write[i] ? HS_MODE_WRITE : (m ? m : HS_MODE_READ);
	return m;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32); /* tid */
	__type(value, struct hs_comm);
} comms SEC(".maps");

/* The name and memory cgroup are cached once per task (and again after a rename), not looked up per acquisition: a
 * task moved to another cgroup meanwhile is reported in the one it had then. */
static __always_inline void remember_comm(struct task_state *st, __u32 tid, __u32 tgid)
{
	__u32 gen = rename_gen;
	if (st->comm_known && st->comm_gen == gen)
		return;
	struct hs_comm c = {};
	bpf_get_current_comm(c.comm, sizeof(c.comm));
	c.tgid = tgid;
	c.cgroup = memcg_of_task(bpf_get_current_task_btf());
	st->cgroup = c.cgroup;
	bpf_map_update_elem(&comms, &tid, &c, BPF_ANY);
	st->comm_known = 1;
	st->comm_gen = gen;
}
