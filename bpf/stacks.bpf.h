/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel stack walks: the two stack maps and stack_of(), which every part of the object that records a stack goes
 * through, so that a stack lost to a hash collision is retried once and otherwise counted (counters.bpf.h).
 */
#pragma once

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, HS_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* A stack whose hash bucket is taken by another stack fails every time it recurs. A second map with twice the
 * buckets hashes it elsewhere, so only stacks colliding in both are lost (and counted). Ids from it carry
 * HS_STACK_ID_ALT. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 32768);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, HS_MAX_STACK_DEPTH * sizeof(__u64));
} stacks_alt SEC(".maps");

static __always_inline __s32 stack_of(void *ctx)
{
	long id = bpf_get_stackid(ctx, &stacks, 0);
	if (id >= 0)
		return (__s32)id;
	id = bpf_get_stackid(ctx, &stacks_alt, 0);
	if (id >= 0)
		return (__s32)(id | HS_STACK_ID_ALT);
	count(HS_CNT_STACK_FAIL);
	return -1;
}
