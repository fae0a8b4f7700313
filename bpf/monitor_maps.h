/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What `holdscope monitor` aggregates in the kernel (bpf/monitor.bpf.c) and reads from user space: hold and wait time
 * histograms and the work done under the lock, per memory cgroup (and per process when asked), and the slow-hold
 * records of --threshold-ms.
 */
#ifndef HOLDSCOPE_MONITOR_MAPS_H
#define HOLDSCOPE_MONITOR_MAPS_H

#ifndef __BPF__
#include <linux/types.h>
#endif

/* log2 buckets of nanoseconds: bucket i counts durations in [2^i, 2^(i+1)) ns (bucket 0 also 0 ns); the last one holds
 * everything from 2^(HS_MON_BUCKETS-1) ns (about 275 s) up. */
#define HS_MON_BUCKETS 39

/* A log2 histogram of one kind of duration (holds or waits) in one mode. */
struct hs_mon_hist {
	__u64 buckets[HS_MON_BUCKETS];
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;    /* the largest of period max_epoch */
	__u64 max_epoch; /* user space starts a new period at each reading (monitor.bpf.c: max_epoch) */
};

/* Work done while the task held an mmap_lock, by the mode it held (the strongest). */
struct hs_mon_work {
	__u64 pages;      /* page allocations */
	__u64 slabs;      /* kmem_cache allocations */
	__u64 kmallocs;
	__u64 may_sleep;  /* of those, allocations whose gfp allows direct reclaim */
	__u64 reclaims;   /* direct (or memcg) reclaim runs */
	__u64 reclaim_ns;
	__u64 compactions;
	__u64 lru_drains; /* lru_add_drain_per_cpu works queued on other CPUs */
};

struct hs_mon_group_key {
	__u64 cgroup; /* the memory cgroup's id (its kernfs node id; the inode number of its directory); 0: unknown */
	__u32 tgid;   /* 0 unless monitoring per process */
	__u32 pad;
};

/* Everything about one group (memory cgroup, or process of one) in one entry, indexed by HS_MODE_* - 1: a hold's
 * release updates its hold and wait histograms and adds its work with one table lookup. */
struct hs_mon_group {
	struct hs_mon_hist hold[2];
	struct hs_mon_hist wait[2];
	struct hs_mon_work work[2];
};

/* A hold at least threshold_ns long, written when it ends. */
struct hs_mon_slow_hold {
	__u64 end_ts; /* bpf_ktime_get_ns() */
	__u64 held_ns;
	__u64 mm;
	__u64 cgroup;
	struct hs_mon_work work; /* done inside this hold */
	__u32 tid;
	__u32 tgid;
	__s32 stack_id; /* at the release; < 0: none */
	__u8 write;
	__u8 pad[3];
	char comm[16];
};

/* Losses of the monitor's own maps (counted per CPU, like hs_counter). */
enum hs_mon_counter {
	HS_MON_CNT_HIST_FULL = 0,  /* a group's entry found its map full */
	HS_MON_CNT_SLOW_LOST = 1,  /* a slow-hold record found the ring buffer full */
	HS_MON_CNT_STACK_FAIL = 2,
	HS_MON_CNT_TASK_FULL = 3,  /* no task storage for a task */
	HS_MON_CNT_HELD_OVERFLOW = 4,
	HS_MON_CNT_MAX = 6,
};

#endif
