#include "tool/monitor_bpf.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bpf/holdscope_events.h"
#include "monitor.skel.h"
#include "tool/libbpf_support.h"
#include "tool/probes.h"
#include "tool/system_info.h"

namespace holdscope {

namespace {

// The monitor's programs, in the layout of kTracepoints (probes.h): the mmap_lock ones come in two argument layouts.
constexpr TracepointSpec kMonitorTracepoints[] = {
    {"hm_lock_start", "mmap_lock", "mmap_lock_start_locking", "raw_tracepoint", true, 2, true},
    {"hm_lock_acquired", "mmap_lock", "mmap_lock_acquire_returned", "raw_tracepoint", true, 3, true},
    {"hm_lock_released", "mmap_lock", "mmap_lock_released", "raw_tracepoint", true, 2, true},
    {"hm_page_alloc", "kmem", "mm_page_alloc", "raw_tracepoint", false, 4},
    {"hm_slab_alloc", "kmem", "kmem_cache_alloc", "raw_tracepoint", false, 5},
    {"hm_kmalloc", "kmem", "kmalloc", "raw_tracepoint", false, 6},
    {"hm_reclaim_begin", "vmscan", "mm_vmscan_direct_reclaim_begin", "tracepoint", false},
    {"hm_reclaim_end", "vmscan", "mm_vmscan_direct_reclaim_end", "tracepoint", false},
    {"hm_memcg_reclaim_begin", "vmscan", "mm_vmscan_memcg_reclaim_begin", "tracepoint", false},
    {"hm_memcg_reclaim_end", "vmscan", "mm_vmscan_memcg_reclaim_end", "tracepoint", false},
    {"hm_compact_begin", "compaction", "mm_compaction_begin", "tracepoint", false},
    {"hm_queue_work", "workqueue", "workqueue_queue_work", "tracepoint", false},
    {"hm_exit", "sched", "sched_process_exit", "tracepoint", true},
};

// Memory for each per-CPU table, whatever the number of CPUs; a table that finds it full counts what it loses.
constexpr size_t kTableBudgetBytes = 16u << 20;
constexpr uint32_t kMinTableEntries = 256, kMaxTableEntries = 4096;

size_t possible_cpus() { return static_cast<size_t>(std::max(1, libbpf_num_possible_cpus())); }

// Each entry of a per-CPU hash table, with one value per CPU.
template <typename K, typename V, typename Fn>
void for_each_entry(struct bpf_map* map, Fn fn) {
  K key{}, next{};
  std::vector<V> values(possible_cpus());
  K* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof next) == 0) {
    if (bpf_map__lookup_elem(map, &next, sizeof next, values.data(), values.size() * sizeof(V), 0) == 0) fn(next, values);
    key = next;
    prev = &key;
  }
}

// The CPUs' histograms summed; the maximum of those whose period is the current one.
enum class HistKind { hold, wait };
LockHistogram histogram_from_kernel(const std::vector<hs_mon_group>& per_cpu, HistKind kind, int mode, uint64_t epoch) {
  LockHistogram out;
  for (const auto& g : per_cpu) {
    const hs_mon_hist& h = kind == HistKind::wait ? g.wait[mode] : g.hold[mode];
    for (int i = 0; i < HS_MON_BUCKETS; i++) out.buckets[i] += h.buckets[i];
    out.count += h.count;
    out.sum_ns += h.sum_ns;
    if (h.max_epoch == epoch) out.max_ns = std::max<uint64_t>(out.max_ns, h.max_ns);
  }
  return out;
}

WorkCounts work_summed(const std::vector<hs_mon_group>& per_cpu, int mode) {
  WorkCounts out;
  for (const auto& g : per_cpu) out += work_from_kernel(g.work[mode]);
  return out;
}

// The kernel's entries are indexed by HS_MODE_* - 1, as HeldMode is.
static_assert(static_cast<int>(HeldMode::read) == HS_MODE_READ - 1 && static_cast<int>(HeldMode::write) == HS_MODE_WRITE - 1);

}  // namespace

void MonitorBpf::SkelDeleter::operator()(monitor_bpf* s) const { monitor_bpf__destroy(s); }
void MonitorBpf::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

MonitorBpf::MonitorBpf(const MonitorBpfOptions& o) : opts_(o) {
  install_libbpf_logging(o.verbose);
  std::string btf = vmlinux_btf_path();
  struct bpf_object_open_opts oo = {};
  oo.sz = sizeof(oo);
  oo.btf_custom_path = getenv("HOLDSCOPE_BTF") ? btf.c_str() : nullptr;
  skel_.reset(monitor_bpf__open_opts(&oo));
  if (!skel_) throw ToolError("cannot open the monitor's BPF object: " + std::string(strerror(errno)));

  std::unique_ptr<struct btf, void (*)(struct btf*)> vmlinux_btf(btf__parse(btf.c_str(), nullptr), btf__free);
  plan_ = plan_tracepoints(skel_->obj, vmlinux_btf.get(), kMonitorTracepoints, o.lru_drain_fn != 0,
                           "monitor mmap_lock");
  vmlinux_btf.reset();

  skel_->rodata->filter_targets = o.pid != 0;
  skel_->rodata->filter_cgroup = o.cgroup;
  skel_->rodata->per_process = o.per_process;
  skel_->rodata->threshold_ns = o.threshold_ns;
  skel_->rodata->lru_drain_fn = o.lru_drain_fn;
  skel_->rodata->gfp_direct_reclaim = o.gfp_direct_reclaim;
  auto entries = [](size_t value_size) {
    return static_cast<uint32_t>(std::clamp<size_t>(kTableBudgetBytes / (possible_cpus() * value_size), kMinTableEntries,
                                                    kMaxTableEntries));
  };
  bpf_map__set_max_entries(skel_->maps.mon_groups, entries(sizeof(hs_mon_group)));
  require_global_data_support();
  if (int err = monitor_bpf__load(skel_.get()))
    throw ToolError("cannot load the monitor's BPF programs (" + std::string(strerror(-err)) + "): " + libbpf_last_messages());
  if (o.pid) {
    uint32_t key = static_cast<uint32_t>(o.pid);
    uint64_t mm = 0;
    if (bpf_map__update_elem(skel_->maps.targets, &key, sizeof key, &mm, sizeof mm, BPF_ANY))
      throw ToolError("cannot add the process to the BPF filter: " + std::string(strerror(errno)));
  }
}

MonitorBpf::~MonitorBpf() = default;

void MonitorBpf::start(SlowHoldFn fn) {
  fn_ = std::move(fn);
  if (int err = monitor_bpf__attach(skel_.get()))
    throw ToolError("cannot attach the monitor's BPF programs (" + std::string(strerror(-err)) + "): " +
                    libbpf_last_messages());
  ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.slow_holds), &MonitorBpf::on_sample, this, nullptr));
  if (!ring_) throw ToolError("cannot open the BPF ring buffer: " + std::string(strerror(errno)));
  skel_->bss->hs_enabled = 1;
}

int MonitorBpf::on_sample(void* ctx, void* data, size_t len) {
  auto* self = static_cast<MonitorBpf*>(ctx);
  if (len < sizeof(hs_mon_slow_hold)) return 0;
  const auto& r = *static_cast<const hs_mon_slow_hold*>(data);
  if (self->fn_) self->fn_(r);
  if (r.stack_id >= 0) self->read_stacks_.push_back(r.stack_id);
  return 0;
}

void MonitorBpf::poll(int timeout_ms) {
  if (!ring_) return;
  int n = ring_buffer__poll(ring_.get(), timeout_ms);
  for (int32_t id : read_stacks_) {
    uint32_t key = static_cast<uint32_t>(id);
    bpf_map__delete_elem(skel_->maps.mon_stacks, &key, sizeof key, 0);
  }
  read_stacks_.clear();
  if (n < 0 && n != -EINTR) throw ToolError("cannot read the BPF ring buffer: " + std::string(strerror(-n)));
}

MonitorReading MonitorBpf::read() {
  MonitorReading r;
  uint64_t epoch = skel_->bss->max_epoch;
  for_each_entry<hs_mon_group_key, hs_mon_group>(skel_->maps.mon_groups, [&](const hs_mon_group_key& k,
                                                                             const std::vector<hs_mon_group>& v) {
    GroupStats& g = r.groups[GroupKey{k.cgroup, k.tgid}];
    for (int m = 0; m < 2; m++) {
      g.hold[m] = histogram_from_kernel(v, HistKind::hold, m, epoch);
      g.wait[m] = histogram_from_kernel(v, HistKind::wait, m, epoch);
      g.work[m] = work_summed(v, m);
    }
  });
  skel_->bss->max_epoch = epoch + 1;

  size_t ncpu = possible_cpus();
  auto sum = [&](struct bpf_map* map, uint32_t idx) {
    std::vector<uint64_t> vals(ncpu);
    uint64_t s = 0;
    if (bpf_map__lookup_elem(map, &idx, sizeof idx, vals.data(), vals.size() * sizeof(uint64_t), 0) == 0)
      for (uint64_t v : vals) s += v;
    return s;
  };
  r.losses.table_full = sum(skel_->maps.mon_counters, HS_MON_CNT_HIST_FULL);
  r.losses.slow_holds_lost = sum(skel_->maps.mon_counters, HS_MON_CNT_SLOW_LOST);
  r.losses.stacks = sum(skel_->maps.mon_counters, HS_MON_CNT_STACK_FAIL);
  r.losses.task_storage = sum(skel_->maps.mon_counters, HS_MON_CNT_TASK_FULL);
  r.losses.held_overflow = sum(skel_->maps.mon_counters, HS_MON_CNT_HELD_OVERFLOW);
  r.losses.scope_full = sum(skel_->maps.counters, HS_CNT_SCOPE_MAP_FULL);
  return r;
}

void MonitorBpf::forget(const std::vector<GroupKey>& groups) {
  for (const auto& g : groups) {
    hs_mon_group_key k{};
    k.cgroup = g.cgroup;
    k.tgid = g.tgid;
    bpf_map__delete_elem(skel_->maps.mon_groups, &k, sizeof k, 0);
  }
}

std::vector<uint64_t> MonitorBpf::stack(int32_t id) const {
  std::vector<uint64_t> out;
  if (id < 0) return out;
  uint64_t addrs[HS_MAX_STACK_DEPTH] = {};
  uint32_t key = static_cast<uint32_t>(id);
  if (bpf_map__lookup_elem(skel_->maps.mon_stacks, &key, sizeof key, addrs, sizeof addrs, 0) != 0) return out;
  for (uint64_t a : addrs) {
    if (!a) break;
    out.push_back(a);
  }
  return out;
}

std::vector<int> MonitorBpf::program_fds() const {
  std::vector<int> fds;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    int fd = bpf_program__fd(prog);
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

void MonitorBpf::stop() {
  if (!skel_) return;
  skel_->bss->hs_enabled = 0;
  monitor_bpf__detach(skel_.get());
  if (ring_) ring_buffer__consume(ring_.get());
}

}  // namespace holdscope
