/* SPDX-License-Identifier: GPL-2.0 */
/* The memory cgroup of a task, shared by the record object (task_state.bpf.h) and the monitor object (monitor.bpf.c). */
#pragma once

#define HS_MAX_CGROUP_SUBSYS 64 /* a bound for the verifier; kernels have about 14 cgroup subsystems */

/* The id of t's memory cgroup: the kernfs node id of the cgroup its memory controller state belongs to, which is the
 * inode number of that cgroup's directory on cgroup v1 and v2 alike (user space names it from there). The subsystem's
 * index is relocated by CO-RE, as it depends on the kernel's configuration. 0 on a kernel without memory cgroups. */
static __always_inline __u64 memcg_of_task(struct task_struct *t)
{
	__u64 id = 0;
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct cgroup_subsys_state *css = NULL;
		if (idx >= 0 && idx < HS_MAX_CGROUP_SUBSYS)
			css = BPF_CORE_READ(t, cgroups, subsys[idx]);
		if (css)
			id = BPF_CORE_READ(css, cgroup, kn, id);
	}
	return id;
}
