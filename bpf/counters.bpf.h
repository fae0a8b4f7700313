/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The per-CPU loss and event counters (enum hs_counter), read by user space at the end: every record lost, every
 * table that ran out of room, is counted here, so that no loss is silent. Every other part of the object counts
 * through count(), so this comes first.
 */
#pragma once

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		(*v)++;
}
