// SPDX-License-Identifier: GPL-2.0
/* One program per build (ACCESS and TRACEPOINT, set by bench/access_costs), on a raw tracepoint holdscope uses, doing
 * one of the things holdscope's programs do there: what each costs per run, beside the empty program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define ACCESS_EMPTY 0
#define ACCESS_TASK 1     /* a field of the current task */
#define ACCESS_GLOBAL 2   /* a global variable (.bss) */
#define ACCESS_PERCPU 3   /* a per-CPU array entry */
#define ACCESS_IDLE 4     /* the allocator programs' idle check (idle_task.bpf.h), as they run it */
#define ACCESS_STORAGE 5  /* a task-local storage lookup */
#define ACCESS_CLOCK 6    /* bpf_ktime_get_ns */

#include "idle_task.bpf.h"

struct access_state {
	__u64 v[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct access_state);
} states SEC(".maps");

volatile __u64 global_value;
__u64 sink;

#define NEVER 0x5eed5eedull /* compared against, so that the load is not optimised away */

#define SECTION_OF(tp) "raw_tp/" #tp
#define SECTION(tp) SECTION_OF(tp)

SEC(SECTION(TRACEPOINT))
int access_cost(void *ctx)
{
#if ACCESS == ACCESS_TASK
	if (bpf_get_current_task_btf()->pid == NEVER)
		sink++;
#elif ACCESS == ACCESS_GLOBAL
	if (global_value == NEVER)
		sink++;
#elif ACCESS == ACCESS_PERCPU
	__u32 zero = 0;
	struct idle_task *c = bpf_map_lookup_elem(&idle_tasks, &zero);
	if (c && c->tid == NEVER)
		sink++;
#elif ACCESS == ACCESS_IDLE
	__u32 zero = 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct idle_task *c = bpf_map_lookup_elem(&idle_tasks, &zero);
	if (c && known_idle(c, t))
		return 0;
	struct access_state *st = bpf_task_storage_get(&states, t, 0, 0);
	if (st && st->v[0] == NEVER)
		sink++;
	if (c)
		remember_idle(c, t);
#elif ACCESS == ACCESS_STORAGE
	/* Created at a task's first allocation, as the lock programs create it at its first acquisition. */
	struct access_state *st = bpf_task_storage_get(&states, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st && st->v[0] == NEVER)
		sink++;
#elif ACCESS == ACCESS_CLOCK
	sink = bpf_ktime_get_ns();
#endif
	return 0;
}
