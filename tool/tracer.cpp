#include "tool/tracer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <map>
#include <utility>

#include "holdscope.skel.h"
#include "tool/libbpf_support.h"
#include "tool/probes.h"
#include "tool/system_info.h"
#include "tool/unique_fd.h"

namespace holdscope {

void Tracer::SkelDeleter::operator()(holdscope_bpf* s) const { holdscope_bpf__destroy(s); }
void Tracer::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

Tracer::Tracer(TracerOptions opts) : opts_(opts) {
  install_libbpf_logging(opts.verbose);
  std::string btf = vmlinux_btf_path();

  struct bpf_object_open_opts oo = {};
  oo.sz = sizeof(oo);
  oo.btf_custom_path = getenv("HOLDSCOPE_BTF") ? btf.c_str() : nullptr;
  skel_.reset(holdscope_bpf__open_opts(&oo));
  if (!skel_) throw ToolError("cannot open the BPF object: " + std::string(strerror(errno)));

  std::unique_ptr<struct btf, void (*)(struct btf*)> vmlinux_btf(btf__parse(btf.c_str(), nullptr), btf__free);
  plan_ = plan_tracepoints(skel_->obj, vmlinux_btf.get(), kTracepoints, opts_.lru_drain_fn != 0, "trace mmap_lock");
  plan_direct_programs(vmlinux_btf.get());
  vmlinux_btf.reset();

  skel_->rodata->filter_targets = opts_.filter_targets;
  skel_->rodata->filter_cgroup = opts_.filter_cgroup;
  skel_->rodata->lock_stacks = static_cast<uint8_t>(opts_.lock_stacks);
  skel_->rodata->stack_min_hold_ns = opts_.stack_min_hold_us * 1000;
  skel_->rodata->alloc_stacks = opts_.alloc_stacks;
  skel_->rodata->stream_allocs = opts_.stream_allocs;
  skel_->rodata->wakeup_bytes = (uint64_t(opts_.ringbuf_mb) << 20) / 16;
  skel_->rodata->lru_drain_fn = opts_.lru_drain_fn;
  skel_->rodata->gfp_direct_reclaim = opts_.gfp_direct_reclaim;
  if (opts_.kallsyms) {
    if (const Symbol* clone = opts_.kallsyms->by_name("anon_vma_clone")) {
      uint64_t end = 0;  // the next text symbol bounds it
      for (const auto& sym : opts_.kallsyms->symbols())
        if (sym.addr > clone->addr && (end == 0 || sym.addr < end)) end = sym.addr;
      skel_->rodata->clone_fn_lo = clone->addr;
      skel_->rodata->clone_fn_hi = end;
    }
  }
  bpf_map__set_max_entries(skel_->maps.events, static_cast<uint32_t>(uint64_t(opts_.ringbuf_mb) << 20));
  // The per-CPU allocation counts get at most 4 MiB, whatever the number of CPUs; counts that find it full are lost
  // and counted.
  size_t ncpu = std::max(1, libbpf_num_possible_cpus());
  size_t count_entries = std::clamp<size_t>((4u << 20) / (ncpu * sizeof(hs_alloc_count)), 1024, 16384);
  bpf_map__set_max_entries(skel_->maps.alloc_counts, static_cast<uint32_t>(count_entries));

  require_global_data_support();
  if (int err = holdscope_bpf__load(skel_.get()))
    throw ToolError("cannot load the BPF programs (" + std::string(strerror(-err)) + "): " + libbpf_last_messages());
}

Tracer::~Tracer() = default;

// Points one fentry and one fexit slot at each function of the attach points that run direct; unused slots stay
// unloaded, so the object loads where fentry is forbidden.
void Tracer::plan_direct_programs(const struct btf* vmlinux) {
  SymbolTable none;
  attach_ = plan_attach_points(vmlinux, opts_.kallsyms ? *opts_.kallsyms : none, tracefs_root(), opts_.modes, true);
  for (int slot = 0; slot < HS_FN_SLOTS; slot++) {
    for (const char* kind : {"hs_fentry_", "hs_fexit_"}) {
      auto* prog = bpf_object__find_program_by_name(skel_->obj, (kind + std::to_string(slot)).c_str());
      if (!prog) throw ToolError("BPF object lacks its fentry/fexit slots");
      bpf_program__set_autoload(prog, false);
    }
  }
  for (const auto& c : attach_) {
    if (c.mode != AttachMode::direct) continue;
    for (const auto& fn : c.functions) {
      int slot = static_cast<int>(slots_.size());
      if (slot >= HS_FN_SLOTS) throw ToolError("more directly observed functions than fentry slots");
      for (const char* kind : {"hs_fentry_", "hs_fexit_"}) {
        auto* prog = bpf_object__find_program_by_name(skel_->obj, (kind + std::to_string(slot)).c_str());
        if (bpf_program__set_attach_target(prog, 0, fn.c_str()))
          throw ToolError("cannot target " + fn + " with fentry: " + libbpf_last_messages());
        bpf_program__set_autoload(prog, true);
      }
      skel_->rodata->slot_arg0_mm[slot] = first_arg_is_mm(fn);
      skel_->rodata->slot_stack_always[slot] = c.name == "lru_drain" || c.name == "khugepaged";
      slots_.push_back(fn);
      plan_.push_back(ProbePlan{"hs_fentry_" + std::to_string(slot), fn, "fentry/fexit", false, true, {}});
    }
  }
}

void Tracer::add_target(pid_t tgid) {
  uint32_t key = static_cast<uint32_t>(tgid);
  uint64_t mm = 0;
  if (bpf_map__update_elem(skel_->maps.targets, &key, sizeof key, &mm, sizeof mm, BPF_ANY))
    throw ToolError("cannot add the target process to the BPF filter: " + std::string(strerror(errno)));
}

void Tracer::start(EventFn fn) {
  fn_ = std::move(fn);
  bpf_program__set_autoattach(skel_->progs.hs_flush, false);  // run on demand, attached to nothing
  bpf_program__set_autoattach(skel_->progs.hs_fold_tallies, false);  // run once, by stop()
  if (int err = holdscope_bpf__attach(skel_.get()))
    throw ToolError("cannot attach the BPF programs (" + std::string(strerror(-err)) + "): " + libbpf_last_messages());
  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), &Tracer::on_sample, this, nullptr));
  if (!ring_) throw ToolError("cannot open the BPF ring buffer: " + std::string(strerror(errno)));
  skel_->bss->hs_enabled = 1;
}

// A sample is one record or a CPU's batch of them (bpf/emit.bpf.h: the per-CPU map batches).
int Tracer::on_sample(void* ctx, void* data, size_t len) {
  auto* self = static_cast<Tracer*>(ctx);
  for (size_t off = 0; off + sizeof(hs_event) <= len; off += sizeof(hs_event)) {
    hs_event e;
    memcpy(&e, static_cast<const char*>(data) + off, sizeof e);
    if (e.stack_id >= 0) self->stack_ids_.insert(e.stack_id);
    if (e.type == HS_EV_SLAB_ALLOC || e.type == HS_EV_KMALLOC) self->call_sites_.insert(e.arg3);
    self->fn_(e);
  }
  return 0;
}

// Runs hs_flush on every CPU, so that no CPU keeps a partial batch of records for long.
void Tracer::flush_batches() {
  int fd = bpf_program__fd(skel_->progs.hs_flush);
  if (fd < 0) return;
  int ncpu = libbpf_num_possible_cpus();
  for (int cpu = 0; cpu < ncpu; cpu++) {
    LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = static_cast<__u32>(cpu));
    bpf_prog_test_run_opts(fd, &run);  // an offline CPU refuses; it has no batch either
  }
}

int Tracer::poll(int timeout_ms) {
  int n = ring_buffer__poll(ring_.get(), timeout_ms);
  flush_batches();
  return n == -EINTR ? 0 : n;
}

void Tracer::stop() {
  if (!skel_) return;
  skel_->bss->hs_enabled = 0;
  // A flush skips a CPU whose batch a program is filling at that instant (on a vCPU the host has paused, that can
  // last); no program starts a record once disabled, so flush until every batch is idle and empty. The bound only
  // keeps a stuck CPU from hanging the end: what is still batched after it is counted as dropped.
  flush_batches();
  for (int i = 0; i < kEndFlushTries && unflushed_records() > 0; i++) {
    usleep(1000);
    flush_batches();
  }
  lost_at_end_ = unflushed_records();
  fold_tallies();
  if (ring_) ring_buffer__consume(ring_.get());  // with the acquisitions of holds still open, which the iterator wrote
}

// Records still in the CPUs' batches, busy ones counted whole (a program may be adding one).
static_assert(sizeof(hs_batch) % 8 == 0, "a per-CPU value is read as sizeof(hs_batch) per CPU, unpadded");
uint64_t Tracer::unflushed_records() const {
  size_t ncpu = std::max(1, libbpf_num_possible_cpus());
  std::vector<hs_batch> batches(ncpu);
  uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.batches, &zero, sizeof zero, batches.data(), batches.size() * sizeof(hs_batch), 0))
    return 0;
  uint64_t n = 0;
  for (const auto& b : batches) n += b.busy ? std::max<uint64_t>(b.n, 1) : b.n;
  return n;
}

// Runs the task iterator that adds what live tasks' allocation tallies still hold to the counts (bpf: struct
// task_state) and writes the acquisitions of holds still open. After the gate closed: no program counts any more.
void Tracer::fold_tallies() {
  std::unique_ptr<bpf_link, int (*)(bpf_link*)> link(bpf_program__attach_iter(skel_->progs.hs_fold_tallies, nullptr),
                                                      bpf_link__destroy);
  if (!link) throw ToolError("cannot attach the task iterator that collects allocation counts: " + libbpf_last_messages());
  UniqueFd fd(bpf_iter_create(bpf_link__fd(link.get())));
  if (!fd.valid())
    throw ToolError("cannot run the task iterator that collects allocation counts: " + std::string(strerror(errno)));
  // The program writes nothing; reading to the end is what walks the tasks. A signal (a second Ctrl-C while the
  // recording ends) interrupts a read, not the walk: read on.
  char buf[64];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
  }
  if (n < 0) throw ToolError("the task iterator that collects allocation counts failed: " + std::string(strerror(errno)));
}

KernelCounters Tracer::counters() const {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> vals(ncpu > 0 ? ncpu : 1);
  auto sum = [&](uint32_t idx) {
    uint64_t total = 0;
    if (bpf_map__lookup_elem(skel_->maps.counters, &idx, sizeof idx, vals.data(), vals.size() * sizeof(uint64_t), 0) == 0)
      for (uint64_t v : vals) total += v;
    return total;
  };
  KernelCounters c;
  c.ringbuf = sum(HS_CNT_RINGBUF_DROPS) + lost_at_end_;
  c.task_map_full = sum(HS_CNT_TASK_MAP_FULL);
  c.stack = sum(HS_CNT_STACK_FAIL);
  c.held_overflow = sum(HS_CNT_HELD_OVERFLOW);
  c.scope_map_full = sum(HS_CNT_SCOPE_MAP_FULL);
  c.events = sum(HS_CNT_EVENTS);
  c.alloc_map_full = sum(HS_CNT_ALLOC_MAP_FULL);
  return c;
}

// Visits every entry of a hash map from user space: its key and its values, one for a plain map, one per possible CPU
// for a per-CPU map.
template <typename K, typename V, typename Fn>
static void for_each_entry(const struct bpf_map* map, size_t nvalues, Fn fn) {
  std::vector<V> values(nvalues);
  K key{}, next{};
  K* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof next) == 0) {
    if (bpf_map__lookup_elem(map, &next, sizeof next, values.data(), values.size() * sizeof(V), 0) == 0)
      fn(next, std::as_const(values));
    key = next;
    prev = &key;
  }
}

void Tracer::fill_context(TraceContext& ctx) const {
  std::unordered_set<int32_t> ids = stack_ids_;
  size_t ncpu = std::max(1, libbpf_num_possible_cpus());
  // (path, stack) counts: summed over CPUs.
  for_each_entry<hs_alloc_key, hs_alloc_count>(skel_->maps.alloc_counts, ncpu, [&](const hs_alloc_key& k, const auto& per_cpu) {
    AllocCount a{k.kind, k.mode, k.site, k.what, k.gfp, k.stack_id, 0, 0, k.cgroup};
    for (const auto& c : per_cpu) {
      a.count += c.count;
      a.failed += c.failed;
    }
    if (a.count == 0) return;
    ctx.alloc_counts.push_back(a);
    if (a.stack_id >= 0) ids.insert(a.stack_id);
  });
  uint64_t addrs[HS_MAX_STACK_DEPTH];
  for (int32_t id : ids) {
    uint32_t key = static_cast<uint32_t>(id) & ~uint32_t(HS_STACK_ID_ALT);
    struct bpf_map* map = (id & HS_STACK_ID_ALT) ? skel_->maps.stacks_alt : skel_->maps.stacks;
    memset(addrs, 0, sizeof addrs);
    if (bpf_map__lookup_elem(map, &key, sizeof key, addrs, sizeof addrs, 0) != 0) continue;
    std::vector<uint64_t> v;
    for (uint64_t a : addrs) {
      if (!a) break;
      v.push_back(a);
    }
    ctx.stacks[id] = std::move(v);
  }
  for_each_entry<uint64_t, hs_cache_info>(skel_->maps.caches, 1, [&](uint64_t ptr, const auto& v) {
    ctx.caches[ptr] = CacheInfo{std::string(v[0].name, strnlen(v[0].name, sizeof v[0].name)), v[0].size};
  });
  for_each_entry<uint32_t, hs_comm>(skel_->maps.comms, 1, [&](uint32_t tid, const auto& v) {
    ctx.comms[tid] = TaskName{std::string(v[0].comm, strnlen(v[0].comm, sizeof v[0].comm)), v[0].tgid, v[0].cgroup};
  });
}

}  // namespace holdscope
