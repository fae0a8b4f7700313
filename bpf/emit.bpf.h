/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Writing records: the ring buffer, the per-CPU batches in front of it (reserve, fill, submit), and the acquisitions
 * a task's holds have not written yet, which go out ahead of any other record of the task. Every program that
 * records goes through here. Uses count() (counters.bpf.h), the task's state (task_state.bpf.h) and the
 * configuration wakeup_bytes (holdscope.bpf.c).
 */
#pragma once

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} events SEC(".maps");

/* Records are gathered per CPU and written to the ring buffer HS_BATCH at a time: a record written into this hot
 * per-CPU buffer costs a fraction of one reserved in the shared ring (whose lock and producer position every CPU
 * touches, and whose memory is cold), and most records are written while the traced task holds mmap_lock. A batch is
 * written when full, when its first record is HS_BATCH_MAX_AGE_NS old, and by user space (hs_flush, run on each CPU
 * every poll), so no record waits long; the analyzer's reorder window covers the delay. A program that runs nested
 * inside another on the same CPU (an interrupt) finds the batch busy and reserves in the ring directly. */
#define HS_BATCH_MAX_AGE_NS 10000000ull

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hs_batch);
} batches SEC(".maps");

static __always_inline void flush(struct hs_batch *b)
{
	__u32 n = b->n;
	if (n == 0)
		return;
	if (n > HS_BATCH)
		n = HS_BATCH;
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	long err = bpf_ringbuf_output(&events, b->rec, n * sizeof(struct hs_event),
				      avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	/* batched records are counted here, once per batch, not per record: one map less touched per event */
	__u32 idx = HS_CNT_EVENTS;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
	if (err) {
		idx = HS_CNT_RINGBUF_DROPS;
		v = bpf_map_lookup_elem(&counters, &idx);
		if (v)
			*v += n;
	}
	b->n = 0;
}

/* A record stamped now to fill: in this CPU's batch (*bp set, busy until submit) or, nested or full, in the ring
 * itself. */
static __always_inline struct hs_event *reserve_at(struct hs_batch **bp, __u16 type, __u64 now)
{
	__u32 zero = 0;
	struct hs_event *e = NULL;
	struct hs_batch *b = bpf_map_lookup_elem(&batches, &zero);
	*bp = NULL;
	if (b && !b->busy) {
		/* busy before n is read: an interrupt that comes in between then writes to the ring, not over this slot */
		b->busy = 1;
		__u32 n = b->n;
		if (n < HS_BATCH) {
			if (n == 0)
				b->first_ts = now;
			e = &b->rec[n];
			*bp = b;
		} else {
			b->busy = 0;
		}
	}
	if (!e) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count(HS_CNT_RINGBUF_DROPS);
			return NULL;
		}
	}
	__u64 id = bpf_get_current_pid_tgid();
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = now;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->stack_id = -1;
	return e;
}

static __always_inline void submit(struct hs_batch *b, struct hs_event *e)
{
	if (!b) {
		count(HS_CNT_EVENTS);
		__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		bpf_ringbuf_submit(e, avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
		return;
	}
	b->n++;
	/* signed: a record may carry an earlier time than the batch's first (an acquisition written late) */
	if (b->n >= HS_BATCH || (__s64)(e->ts - b->first_ts) >= (__s64)HS_BATCH_MAX_AGE_NS)
		flush(b);
	b->busy = 0;
}

static __always_inline void fill_acquisition(struct hs_event *e, const struct task_state *st, int i)
{
	e->ts = st->held_ts[i];
	e->mm = st->held_mm[i];
	e->arg = st->held_start[i];
	e->write = st->held_write[i];
	e->flag = HS_ACQ_F_SUCCESS | (e->arg ? HS_ACQ_F_HAS_START : 0);
}

/* Writes the acquire records of the current task's holds whose acquisition is not written yet (see add_hold):
 * the analyzer must know a hold before any record streamed inside it. Rare: most holds stream nothing. */
static __noinline void write_acquisitions(struct task_state *st)
{
	for (int i = 0; i < HS_MAX_HELD; i++) {
		if (!(st->unwritten & (1 << i)))
			continue;
		st->unwritten &= ~(1 << i);
		if (!st->held_mm[i])
			continue;
		struct hs_batch *b;
		struct hs_event *e = reserve_at(&b, HS_EV_LOCK_ACQUIRED, bpf_ktime_get_ns());
		if (!e)
			continue;
		fill_acquisition(e, st, i);
		submit(b, e);
	}
}

static __always_inline void write_pending_acquisitions(struct task_state *st)
{
	if (st && st->unwritten)
		write_acquisitions(st);
}

/* A record for any event but the lock's own, by the task whose state is st: the analyzer tells from the holds it knows
 * whether it happened under the lock, so the task's unwritten acquisitions go first. */
static __always_inline struct hs_event *reserve_for(struct task_state *st, struct hs_batch **bp, __u16 type)
{
	write_pending_acquisitions(st);
	return reserve_at(bp, type, bpf_ktime_get_ns());
}

/* The same, for a program that has not looked the task's state up. */
static __always_inline struct hs_event *reserve(struct hs_batch **bp, __u16 type)
{
	return reserve_for(my_state(false), bp, type);
}
