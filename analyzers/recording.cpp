#include "analyzers/recording.h"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "analyzers/untrusted_text.h"

namespace holdscope {

namespace {

constexpr char kMagic[8] = {'H', 'O', 'L', 'D', 'S', 'C', 'O', 'P'};
constexpr uint32_t kSecEvents = 1;
constexpr uint32_t kSecStacks = 2;
constexpr uint32_t kSecMeta = 3;
constexpr uint32_t kSecEnd = 0xffff;
constexpr size_t kChunkEvents = 4096;
constexpr uint64_t kMaxSection = 1ull << 30;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t event_abi;
  uint32_t event_size;
  uint32_t reserved;
};

struct SectionHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t length;
};

uint32_t crc(const void* data, uint64_t len) {
  return static_cast<uint32_t>(crc32(0L, static_cast<const Bytef*>(data), static_cast<uInt>(len)));
}

// A fuzzing build reads past checksum mismatches: a mutated byte would otherwise stop every input at the CRC, and the
// parsing and analysis behind it would never be reached.
bool checksum_ok(uint32_t stored, uint32_t computed) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)stored;
  (void)computed;
  return true;
#else
  return stored == computed;
#endif
}

void read_exact(std::istream& in, void* dst, uint64_t len, const char* what) {
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(len));
  if (static_cast<uint64_t>(in.gcount()) != len)
    throw RecordingError(std::string("recording is truncated (while reading ") + what + ")");
}

}  // namespace

RecordingWriter::RecordingWriter(std::ostream& out) : out_(out) {
  FileHeader h{};
  memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kRecordingVersion;
  h.event_abi = HS_EVENT_ABI;
  h.event_size = sizeof(hs_event);
  out_.write(reinterpret_cast<const char*>(&h), sizeof h);
  out_.flush();  // a recording cut short (the recorder killed) still says what it is
  buffer_.reserve(kChunkEvents);
}

void RecordingWriter::section(uint32_t type, const void* data, uint64_t len) {
  SectionHeader s{type, 0, len};
  out_.write(reinterpret_cast<const char*>(&s), sizeof s);
  if (len) out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(len));
  uint32_t c = crc(data, len);
  out_.write(reinterpret_cast<const char*>(&c), sizeof c);
}

void RecordingWriter::add(const hs_event& e) {
  buffer_.push_back(e);
  if (buffer_.size() >= kChunkEvents) flush_events();
}

void RecordingWriter::flush_events() {
  if (buffer_.empty()) return;
  section(kSecEvents, buffer_.data(), buffer_.size() * sizeof(hs_event));
  written_ += buffer_.size();
  buffer_.clear();
}

void RecordingWriter::finish(const TraceContext& ctx) {
  flush_events();
  // stacks: repeated {int32 id, uint32 depth, uint64 addrs[depth]}
  std::vector<char> blob;
  auto put = [&blob](const void* p, size_t n) { blob.insert(blob.end(), (const char*)p, (const char*)p + n); };
  for (const auto& [id, addrs] : ctx.stacks) {
    int32_t sid = id;
    uint32_t depth = static_cast<uint32_t>(addrs.size());
    put(&sid, sizeof sid);
    put(&depth, sizeof depth);
    put(addrs.data(), addrs.size() * sizeof(uint64_t));
  }
  section(kSecStacks, blob.data(), blob.size());
  std::string meta = context_to_json(ctx);
  section(kSecMeta, meta.data(), meta.size());
  section(kSecEnd, nullptr, 0);
  out_.flush();
}

namespace {

// Every string of the metadata comes from the traced system or from a file: escaped on the way in and on the way out
// (escaping is idempotent), so no name can make the JSON invalid or reach a terminal raw.
std::vector<std::string> escape_all(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(escape_untrusted(s));
  return out;
}

// An integer of type T, or a refusal: a float or an out-of-range number converted to an integer type is undefined
// behaviour, and a recording is untrusted input.
template <typename T>
T int_of(const nlohmann::json& v) {
  bool fits = false;
  if (v.is_number_unsigned())
    fits = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  else if (v.is_number_integer())
    fits = std::is_signed_v<T> && v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
           v.get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max());
  if (!fits) throw RecordingError("recording metadata is malformed: " + v.dump().substr(0, 40) + " is not a valid integer here");
  return v.is_number_unsigned() ? static_cast<T>(v.get<uint64_t>()) : static_cast<T>(v.get<int64_t>());
}

template <typename T>
T int_at(const nlohmann::json& j, const char* key) {
  return int_of<T>(j.at(key));
}

template <typename T>
T int_or(const nlohmann::json& j, const char* key, T fallback) {
  return j.contains(key) ? int_of<T>(j.at(key)) : fallback;
}

std::string text_at(const nlohmann::json& j, const char* key) { return escape_untrusted(j.at(key).get<std::string>()); }
std::string text_of(const nlohmann::json& j) { return escape_untrusted(j.get<std::string>()); }

}  // namespace

std::string context_to_json(const TraceContext& c) {
  nlohmann::json j;
  j["kernel"] = escape_untrusted(c.kernel);
  j["hostname"] = escape_untrusted(c.hostname);
  j["page_size"] = c.page_size;
  j["start_ns"] = c.start_ns;
  j["end_ns"] = c.end_ns;
  j["scope"] = escape_untrusted(c.scope);
  j["command"] = escape_all(c.command);
  j["command_exit"] = c.command_exit;
  j["lru_drain_fn"] = c.lru_drain_fn;
  j["counters"] = {{"ringbuf", c.counters.ringbuf},         {"task_map_full", c.counters.task_map_full},
                   {"stack", c.counters.stack},             {"held_overflow", c.counters.held_overflow},
                   {"scope_map_full", c.counters.scope_map_full}, {"events", c.counters.events},
                   {"alloc_map_full", c.counters.alloc_map_full}};
  auto& aps = j["attach_points"] = nlohmann::json::array();
  for (const auto& a : c.attach_points)
    aps.push_back({{"name", escape_untrusted(a.name)}, {"mode", to_string(a.mode)}, {"why", escape_untrusted(a.why)},
                   {"functions", escape_all(a.functions)}});
  j["fn_slots"] = escape_all(c.fn_slots);
  auto& cs = j["collapse_status"] = nlohmann::json::array();
  for (const auto& [v, n] : c.collapse_status) cs.push_back({v, escape_untrusted(n)});
  auto& gfp = j["gfp_flags"] = nlohmann::json::array();
  for (const auto& [v, n] : c.gfp.flags()) gfp.push_back({v, escape_untrusted(n)});
  auto& syms = j["symbols"] = nlohmann::json::array();
  for (const auto& s : c.symbols.symbols()) syms.push_back({s.addr, escape_untrusted(s.name)});
  auto& caches = j["caches"] = nlohmann::json::array();
  for (const auto& [p, ci] : c.caches) caches.push_back({p, escape_untrusted(ci.name), ci.size});
  auto& comms = j["comms"] = nlohmann::json::array();
  for (const auto& [tid, tn] : c.comms) comms.push_back({tid, tn.tgid, escape_untrusted(tn.comm), tn.cgroup});
  auto& cgroups = j["cgroups"] = nlohmann::json::array();
  for (const auto& [id, path] : c.cgroups) cgroups.push_back({id, escape_untrusted(path)});
  if (!c.cgroup_filter.empty()) j["cgroup_filter"] = escape_untrusted(c.cgroup_filter);
  auto& ac = j["alloc_counts"] = nlohmann::json::array();
  for (const auto& a : c.alloc_counts)
    ac.push_back({a.kind, a.mode, a.site, a.what, a.gfp, a.stack_id, a.count, a.failed, a.cgroup});
  return j.dump();
}

TraceContext context_from_json(const std::string& text) {
  TraceContext c;
  try {
    auto j = nlohmann::json::parse(text);
    c.kernel = text_at(j, "kernel");
    c.hostname = escape_untrusted(j.value("hostname", ""));
    c.page_size = int_at<uint64_t>(j, "page_size");
    c.start_ns = int_at<uint64_t>(j, "start_ns");
    c.end_ns = int_at<uint64_t>(j, "end_ns");
    c.scope = text_at(j, "scope");
    c.command = escape_all(j.at("command").get<std::vector<std::string>>());
    c.command_exit = int_or<int>(j, "command_exit", 0);
    c.lru_drain_fn = int_or<uint64_t>(j, "lru_drain_fn", 0);
    const auto& k = j.at("counters");
    c.counters.ringbuf = int_at<uint64_t>(k, "ringbuf");
    c.counters.task_map_full = int_at<uint64_t>(k, "task_map_full");
    c.counters.stack = int_at<uint64_t>(k, "stack");
    c.counters.held_overflow = int_at<uint64_t>(k, "held_overflow");
    c.counters.scope_map_full = int_at<uint64_t>(k, "scope_map_full");
    c.counters.events = int_at<uint64_t>(k, "events");
    c.counters.alloc_map_full = int_or<uint64_t>(k, "alloc_map_full", 0);  // absent from older recordings
    for (const auto& a : j.value("attach_points", nlohmann::json::array())) {
      auto mode = parse_attach_mode(text_at(a, "mode"));
      if (!mode) throw RecordingError("recording metadata is malformed: an attach point of unknown mode");
      c.attach_points.push_back({text_at(a, "name"), *mode, text_at(a, "why"),
                                 escape_all(a.at("functions").get<std::vector<std::string>>())});
    }
    c.fn_slots = escape_all(j.value("fn_slots", std::vector<std::string>{}));
    for (const auto& x : j.value("collapse_status", nlohmann::json::array()))
      c.collapse_status[int_of<int64_t>(x.at(0))] = text_of(x.at(1));
    std::vector<std::pair<uint64_t, std::string>> gfp;
    for (const auto& f : j.at("gfp_flags")) gfp.emplace_back(int_of<uint64_t>(f.at(0)), text_of(f.at(1)));
    c.gfp = GfpTable(std::move(gfp));
    std::vector<Symbol> syms;
    for (const auto& s : j.at("symbols")) syms.push_back({int_of<uint64_t>(s.at(0)), text_of(s.at(1))});
    c.symbols = SymbolTable(std::move(syms));
    for (const auto& x : j.at("caches")) c.caches[int_of<uint64_t>(x.at(0))] = {text_of(x.at(1)), int_of<uint32_t>(x.at(2))};
    // A comm's cgroup and an allocation count's (the last fields) are absent from older recordings.
    for (const auto& x : j.at("comms"))
      c.comms[int_of<uint32_t>(x.at(0))] = {text_of(x.at(2)), int_of<uint32_t>(x.at(1)),
                                            x.size() > 3 ? int_of<uint64_t>(x.at(3)) : 0};
    for (const auto& x : j.value("cgroups", nlohmann::json::array())) c.cgroups[int_of<uint64_t>(x.at(0))] = text_of(x.at(1));
    c.cgroup_filter = escape_untrusted(j.value("cgroup_filter", ""));
    for (const auto& x : j.value("alloc_counts", nlohmann::json::array())) {
      AllocCount a{int_of<int>(x.at(0)),      int_of<int>(x.at(1)),      int_of<uint64_t>(x.at(2)), int_of<uint64_t>(x.at(3)),
                   int_of<uint64_t>(x.at(4)), int_of<int32_t>(x.at(5)),  int_of<uint64_t>(x.at(6)), int_of<uint64_t>(x.at(7)),
                   x.size() > 8 ? int_of<uint64_t>(x.at(8)) : 0};
      if (a.kind < HS_ALLOC_PAGE || a.kind > HS_ALLOC_KMALLOC || a.mode < 1 || a.mode > 2)
        throw RecordingError("recording metadata is malformed: an allocation count of unknown kind or mode");
      c.alloc_counts.push_back(a);
    }
  } catch (const nlohmann::json::exception& e) {
    throw RecordingError(std::string("recording metadata is malformed: ") + e.what());
  }
  return c;
}

RecordingReader::RecordingReader(std::istream& in) : in_(in) {
  FileHeader h{};
  in_.read(reinterpret_cast<char*>(&h), sizeof h);
  if (static_cast<size_t>(in_.gcount()) != sizeof h || memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    throw RecordingError("not a holdscope recording (bad magic)");
  if (h.version != kRecordingVersion)
    throw RecordingError("unsupported recording version " + std::to_string(h.version) + " (this holdscope reads " +
                         std::to_string(kRecordingVersion) + ")");
  // ABIs 1 and 2 differ from 3 only in records 3 may hold and they never do (a start folded into its acquire event,
  // a hold record): the same layout, read the same way.
  if (h.event_abi < 1 || h.event_abi > HS_EVENT_ABI || h.event_size != sizeof(hs_event))
    throw RecordingError("recording event layout " + std::to_string(h.event_abi) + "/" + std::to_string(h.event_size) +
                         " does not match this holdscope's");
  // Every section length is checked against what the file still holds before anything is allocated for it.
  const uint64_t data_start = static_cast<uint64_t>(in_.tellg());
  in_.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in_.tellg());
  in_.seekg(static_cast<std::streamoff>(data_start));
  bool have_meta = false, have_end = false;
  std::vector<char> stacks_blob;
  while (!have_end) {
    SectionHeader s{};
    if (static_cast<uint64_t>(in_.tellg()) == file_size && !event_sections_.empty() && !have_meta)
      throw RecordingError("recording is truncated: it ends after " + std::to_string(event_count_) +
                           " events, before its metadata (the recorder did not finish; it cannot be analyzed)");
    read_exact(in_, &s, sizeof s, "a section header");
    if (s.length > kMaxSection) throw RecordingError("recording is corrupt (section length out of range)");
    if (s.length + sizeof(uint32_t) > file_size - static_cast<uint64_t>(in_.tellg()))
      throw RecordingError("recording is truncated (a section runs past the end of the file)");
    if (s.type == kSecEvents) {
      if (s.length % sizeof(hs_event) != 0) throw RecordingError("recording is corrupt (partial event)");
      uint64_t off = static_cast<uint64_t>(in_.tellg());
      event_sections_.emplace_back(off, s.length);
      event_count_ += s.length / sizeof(hs_event);
      in_.seekg(static_cast<std::streamoff>(s.length + sizeof(uint32_t)), std::ios::cur);
      if (!in_) throw RecordingError("recording is truncated (inside an event section)");
      continue;
    }
    std::vector<char> payload(s.length);
    read_exact(in_, payload.data(), s.length, "a section");
    uint32_t stored = 0;
    read_exact(in_, &stored, sizeof stored, "a checksum");
    if (!checksum_ok(stored, crc(payload.data(), s.length))) throw RecordingError("recording is corrupt (checksum mismatch)");
    switch (s.type) {
      case kSecStacks: stacks_blob = std::move(payload); break;
      case kSecMeta:
        ctx_ = context_from_json(std::string(payload.begin(), payload.end()));
        have_meta = true;
        break;
      case kSecEnd: have_end = true; break;
      default: throw RecordingError("recording is corrupt (unknown section type " + std::to_string(s.type) + ")");
    }
  }
  if (!have_meta) throw RecordingError("recording has no metadata section");
  size_t p = 0;
  while (p < stacks_blob.size()) {
    int32_t id;
    uint32_t depth;
    if (p + 8 > stacks_blob.size()) throw RecordingError("recording is corrupt (stack table)");
    memcpy(&id, &stacks_blob[p], 4);
    memcpy(&depth, &stacks_blob[p + 4], 4);
    p += 8;
    if (depth > 1024 || p + depth * 8ull > stacks_blob.size()) throw RecordingError("recording is corrupt (stack table)");
    std::vector<uint64_t> addrs(depth);
    if (depth) memcpy(addrs.data(), &stacks_blob[p], depth * 8ull);  // an empty stack: no source to copy from
    p += depth * 8ull;
    ctx_.stacks[id] = std::move(addrs);
  }
}

void RecordingReader::for_each_event(const std::function<void(const hs_event&)>& fn) {
  std::vector<hs_event> chunk;
  for (const auto& [off, len] : event_sections_) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(off));
    chunk.resize(len / sizeof(hs_event));
    read_exact(in_, chunk.data(), len, "events");
    uint32_t stored = 0;
    read_exact(in_, &stored, sizeof stored, "a checksum");
    if (!checksum_ok(stored, crc(chunk.data(), len))) throw RecordingError("recording is corrupt (event checksum mismatch)");
    for (const auto& e : chunk) fn(e);
  }
}

}  // namespace holdscope
