/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Slab caches: each cache's name and size, captured once for the recording (slab records and counts carry only the
 * cache's address), and whether the cache is anon_vma_chain, whose allocations are always streamed for the
 * anon_vma_clone inference.
 */
#pragma once

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, __u64); /* struct kmem_cache * */
	__type(value, struct hs_cache_info);
} caches SEC(".maps");

/* Two word compares: a byte loop here multiplied the verifier's states past its limit. */
static __always_inline bool is_chain_cache(const char *name)
{
	static const char chain[16] = "anon_vma_chain"; /* 14 characters, then NULs */
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, name, 8);
	__builtin_memcpy(&a1, name + 8, 8);
	__builtin_memcpy(&b0, chain, 8);
	__builtin_memcpy(&b1, chain + 8, 8);
	return a0 == b0 && (a1 & 0x00ffffffffffffffull) == (b1 & 0x00ffffffffffffffull);
}

/* Captures a slab cache's name and size the first time it is needed; returns whether its allocations are always
 * streamed. Not inlined: it is called from three places, and inlined it made the program too large to verify. */
static __noinline int cache_info(__u64 key)
{
	struct hs_cache_info *ci = bpf_map_lookup_elem(&caches, &key);
	if (ci)
		return ci->stream;
	struct kmem_cache *s = (struct kmem_cache *)key;
	struct hs_cache_info info = {};
	const char *name = BPF_CORE_READ(s, name);
	bpf_probe_read_kernel_str(info.name, sizeof(info.name), name);
	info.size = BPF_CORE_READ(s, size);
	info.stream = is_chain_cache(info.name);
	bpf_map_update_elem(&caches, &key, &info, BPF_NOEXIST);
	return info.stream;
}
