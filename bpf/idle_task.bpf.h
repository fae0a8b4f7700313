/* SPDX-License-Identifier: GPL-2.0 */
/* The per-CPU idle entry, shared by the record object (task_state.bpf.h) and the monitor object (monitor.bpf.c). */
#pragma once

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

/* Whether this CPU's entry c names t as idle: the same task, not moved to another CPU since. */
static __always_inline bool known_idle(const struct idle_task *c, struct task_struct *t)
{
	return c->tid == t->pid && c->start_time == t->start_time && c->migrations == t->se.nr_migrations;
}

static __always_inline void remember_idle(struct idle_task *c, struct task_struct *t)
{
	c->tid = t->pid;
	c->start_time = t->start_time;
	c->migrations = t->se.nr_migrations;
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

