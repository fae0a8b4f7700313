/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What is traced: with filter_targets (holdscope.bpf.c), only the traced command's processes and the mms they use,
 * followed across fork and exec and forgotten when a process is freed; else the whole system. With filter_cgroup, only
 * the tasks of that memory cgroup (read at every lock event: a filtered trace pays it, the others do not). Uses count()
 * (counters.bpf.h).
 */
#pragma once

struct target {
	__u64 mm;
};

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

/* Whether an mmap_lock event on mm belongs to what is traced. In target mode a kernel thread (khugepaged) working on
 * a target's mm is in scope through target_mms, which follows each target's current mm across exec. */
static __always_inline bool in_scope(__u64 mm)
{
	/* A task outside the cgroup holds nothing as far as the trace knows, so its allocations are not counted either. */
	if (filter_cgroup && memcg_of_task(bpf_get_current_task_btf()) != filter_cgroup)
		return false;
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

/* Outside any lock, only the traced processes count (the whole system when not filtering). */
static __always_inline bool task_in_scope(void)
{
	if (!filter_targets)
		return true;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}
