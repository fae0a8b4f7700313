/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records shared by the BPF programs and user space. Fixed-size and naturally aligned so that a recording written on
 * one machine reads the same on another; any change here bumps HS_EVENT_ABI in the recording header.
 */
#ifndef HOLDSCOPE_EVENTS_H
#define HOLDSCOPE_EVENTS_H

#ifdef __BPF__
/* vmlinux.h provides __u64 and friends. */
#else
#include <linux/types.h>
#endif

#define HS_EVENT_ABI 3 /* 3: hold records (HS_EV_LOCK_HOLD); 2: acquire events may carry their start
			* (HS_ACQ_F_HAS_START); all read */
#define HS_MAX_STACK_DEPTH 48
#define HS_CACHE_NAME_LEN 32
#define HS_STACK_ID_ALT 0x40000000 /* the id is in the second stack map */
#define HS_FN_SLOTS 8              /* kernel functions observed directly (fentry/fexit), numbered by the loader */
#define HS_STACK_REFRESH 1024        /* a cached allocation stack is walked again every this many uses */
#define HS_HUGE_ORDER 9            /* PMD-sized pages: streamed whatever the lock state, for the khugepaged section */

enum hs_event_type {
	HS_EV_LOCK_START = 1,   /* mmap_lock_start_locking: mm, write */
	HS_EV_LOCK_ACQUIRED = 2,/* mmap_lock_acquire_returned: mm, write, flag=HS_ACQ_F_*, arg=start ts (HS_ACQ_F_HAS_START),
				 * stack */
	HS_EV_LOCK_RELEASED = 3,/* mmap_lock_released: mm, write, stack (of a long hold, by default) */
	HS_EV_PAGE_ALLOC = 4,   /* mm_page_alloc: order, arg=gfp, flag=HS_ALLOC_F_FAILED, stack */
	HS_EV_SLAB_ALLOC = 5,   /* kmem_cache_alloc: arg=gfp, arg2=cache pointer, arg3=call_site, flag=HS_ALLOC_F_FAILED */
	HS_EV_KMALLOC = 6,      /* kmalloc: arg=gfp, arg2=bytes_alloc, arg3=call_site, flag=HS_ALLOC_F_FAILED */
	HS_EV_RECLAIM_BEGIN = 7,/* direct or memcg reclaim: order, arg=gfp, flag=HS_RECLAIM_F_MEMCG, stack */
	HS_EV_RECLAIM_END = 8,  /* arg=nr_reclaimed, flag as begin */
	HS_EV_COMPACT_BEGIN = 9,/* mm_compaction_begin, stack */
	HS_EV_COMPACT_END = 10, /* mm_compaction_end: arg=status */
	HS_EV_LRU_DRAIN = 11,   /* workqueue_queue_work of lru_add_drain_per_cpu: target_cpu, stack */
	HS_EV_TASK_EXIT = 12,   /* sched_process_exit of a task that had lock state */
	HS_EV_FN_ENTRY = 13,    /* fentry: arg=slot, mm=first argument when it is an mm, flag=lock held (HS_MODE_*, not
				 * bits), stack */
	HS_EV_FN_EXIT = 14,     /* fexit: arg=slot, arg2=return value */
	HS_EV_COMPACT_TRY = 15, /* mm_compaction_try_to_compact_pages (direct compaction): order, arg=gfp */
	HS_EV_COLLAPSE = 16,    /* mm_collapse_huge_page: mm, arg=status, flag=HS_COLLAPSE_F_ISOLATED */
	HS_EV_SCAN_PMD = 17,    /* mm_khugepaged_scan_pmd: mm, arg=status */
	HS_EV_LOCK_HOLD = 18,   /* mmap_lock_released, or a downgrade (HS_HOLD_F_DOWNGRADE), of a hold whose acquisition
				 * was not written (nothing was streamed inside it): mm, write (the hold's mode), arg=acquired ts,
				 * arg2=start ts (HS_HOLD_F_HAS_START), flag=HS_HOLD_F_*, stack as HS_EV_LOCK_RELEASED */
};

struct hs_event {
	__u64 ts;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 mm;       /* lock events: the mm whose mmap_lock it is */
	__u64 arg;
	__u64 arg2;
	__u64 arg3;
	__u32 pid;      /* thread id */
	__u32 tgid;
	__s32 stack_id; /* < 0: no stack */
	union {
		__u32 order;      /* HS_EV_PAGE_ALLOC, HS_EV_RECLAIM_BEGIN, HS_EV_COMPACT_TRY: the allocation's order */
		__u32 target_cpu; /* HS_EV_LRU_DRAIN: the CPU whose LRU batch the work drains (not the one it ran on) */
	};
	__u16 type;
	__u8 write;
	__u8 flag;      /* HS_*_F_* bits of the event's type (see below), or HS_MODE_* for HS_EV_FN_ENTRY */
	__u32 cpu;      /* the CPU the record was written on */
};

/* hs_event.flag bits, named per event type: the same bit means different things in different events. Bit 0x80 of a
 * start or acquire event is the analyzer's own (kRebuilt, analyzers/analyzer.cpp), never written by the kernel. */

/* HS_EV_LOCK_ACQUIRED */
#define HS_ACQ_F_SUCCESS   0x1 /* the lock was taken (not: a failed trylock, an interrupted killable wait) */
#define HS_ACQ_F_DOWNGRADE 0x2 /* mmap_write_downgrade: the task's write hold goes on as a read hold */
#define HS_ACQ_F_HAS_START 0x4 /* arg is when the acquisition began (its start, folded in: no record of its own) */

/* HS_EV_LOCK_HOLD */
#define HS_HOLD_F_DOWNGRADE 0x2 /* the hold ends in a downgrade, not a release: its read part's release follows */
#define HS_HOLD_F_HAS_START 0x4 /* arg2 is when the acquisition began */

/* HS_EV_PAGE_ALLOC, HS_EV_SLAB_ALLOC, HS_EV_KMALLOC */
#define HS_ALLOC_F_FAILED 0x1

/* HS_EV_RECLAIM_BEGIN, HS_EV_RECLAIM_END */
#define HS_RECLAIM_F_MEMCG 0x1 /* mm_vmscan_memcg_reclaim_*, not mm_vmscan_direct_reclaim_* */

/* HS_EV_COLLAPSE */
#define HS_COLLAPSE_F_ISOLATED 0x1

/* The mmap_lock a task holds, the strongest if several: HS_EV_FN_ENTRY's flag and hs_alloc_key.mode. */
#define HS_MODE_NONE  0
#define HS_MODE_READ  1
#define HS_MODE_WRITE 2

/* Indices into the per-CPU counter array: every loss is counted, none is silent. */
enum hs_counter {
	HS_CNT_RINGBUF_DROPS = 0,
	HS_CNT_TASK_MAP_FULL = 1,
	HS_CNT_STACK_FAIL = 2,
	HS_CNT_HELD_OVERFLOW = 3, /* a task held more mmap_locks at once than the per-task table tracks */
	HS_CNT_SCOPE_MAP_FULL = 4,
	HS_CNT_EVENTS = 5,
	HS_CNT_ALLOC_MAP_FULL = 6, /* allocations under the lock lost because alloc_counts was full */
	HS_CNT_MAX = 8,
};

struct hs_cache_info {
	char name[HS_CACHE_NAME_LEN];
	__u32 size;
	__u32 stream; /* allocations from this cache are always streamed (anon_vma_chain: the anon_vma_clone inference) */
};

/* Allocations under mmap_lock that nothing needs to correlate are counted in the kernel, by this key, and read once at
 * the end; the others (inside an observed function, closing a slow-path episode, huge pages, anon_vma_chain) are
 * streamed. Counts that find the count map full are lost and counted (HS_CNT_ALLOC_MAP_FULL). */
enum hs_alloc_kind {
	HS_ALLOC_PAGE = 0,
	HS_ALLOC_SLAB = 1,
	HS_ALLOC_KMALLOC = 2,
};

struct hs_alloc_key {
	__u64 site;     /* slab/kmalloc call site; 0 for pages */
	__u64 what;     /* page: order; slab: struct kmem_cache *; kmalloc: bytes allocated */
	__u32 gfp;
	__s32 stack_id;
	__u8 kind;
	__u8 mode;      /* mmap_lock held: HS_MODE_READ or HS_MODE_WRITE */
	__u8 pad[6];
	__u64 cgroup;   /* the allocating task's memory cgroup (bpf/memcg.bpf.h), as its hs_comm has it */
};

struct hs_alloc_count {
	__u64 count;
	__u64 failed;
};

/* A call path's allocations under the lock not yet added to alloc_counts, in a task's tally (bpf: struct task_state). */
#define HS_TALLY_SLOTS 16
struct hs_alloc_slot {
	struct hs_alloc_key key; /* with the stack its count belongs to */
	__u64 count;             /* 0: free */
	__u64 failed;
};

/* A CPU's batch of records (bpf/emit.bpf.h: the per-CPU map batches). User space reads n and busy at the end
 * of a trace to flush until every CPU's batch is idle and empty. */
#define HS_BATCH 64
struct hs_batch {
	__u32 n;
	__u32 busy; /* a program is filling it (or flushing it) on that CPU */
	__u64 first_ts;
	struct hs_event rec[HS_BATCH];
};

struct hs_comm {
	char comm[16];
	__u32 tgid;
	__u32 pad;
	__u64 cgroup; /* the task's memory cgroup when its name was cached (bpf/memcg.bpf.h); 0: unknown */
};

#endif
