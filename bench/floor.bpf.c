// SPDX-License-Identifier: GPL-2.0
/* The benchmark's floor: empty programs on every tracepoint holdscope attaches to, attached the way holdscope attaches
 * them (raw_tp where holdscope uses raw tracepoints: tool/probes.h), so that the cost of enabling the tracepoints at
 * all can be told apart from the cost of what holdscope does in them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define EMPTY(sec, name) SEC(sec) int name(void *ctx) { return 0; }

EMPTY("raw_tp/mmap_lock_start_locking", f_lock_start)
EMPTY("raw_tp/mmap_lock_acquire_returned", f_lock_acquired)
EMPTY("raw_tp/mmap_lock_released", f_lock_released)
EMPTY("raw_tp/mm_page_alloc", f_page_alloc)
EMPTY("raw_tp/kmem_cache_alloc", f_slab_alloc)
EMPTY("raw_tp/kmalloc", f_kmalloc)
EMPTY("tp/vmscan/mm_vmscan_direct_reclaim_begin", f_reclaim_begin)
EMPTY("tp/vmscan/mm_vmscan_direct_reclaim_end", f_reclaim_end)
EMPTY("tp/vmscan/mm_vmscan_memcg_reclaim_begin", f_memcg_reclaim_begin)
EMPTY("tp/vmscan/mm_vmscan_memcg_reclaim_end", f_memcg_reclaim_end)
EMPTY("tp/compaction/mm_compaction_begin", f_compact_begin)
EMPTY("tp/compaction/mm_compaction_end", f_compact_end)
EMPTY("tp/compaction/mm_compaction_try_to_compact_pages", f_compact_try)
EMPTY("tp/workqueue/workqueue_queue_work", f_queue_work)
EMPTY("raw_tp/sched_process_fork", f_fork)
EMPTY("tp/sched/sched_process_exit", f_exit)
EMPTY("tp/task/task_rename", f_rename)
EMPTY("tp/huge_memory/mm_collapse_huge_page", f_collapse)
EMPTY("tp/huge_memory/mm_khugepaged_scan_pmd", f_scan_pmd)
