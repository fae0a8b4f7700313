// The .hsr recording: a versioned header, then sections (events in chunks, stacks, metadata), each with a CRC32,
// closed by an end marker. Written as a stream so a long recording never sits in memory; read in two passes so the
// metadata, written last, is known before the first event is analyzed.
#pragma once
#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <vector>

#include "analyzers/context.h"
#include "bpf/holdscope_events.h"

namespace holdscope {

inline constexpr uint32_t kRecordingVersion = 1;

struct RecordingError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class RecordingWriter {
 public:
  explicit RecordingWriter(std::ostream& out);
  void add(const hs_event& e);
  // Writes the buffered events, the stacks and the metadata, then the end marker.
  void finish(const TraceContext& ctx);
  uint64_t events_written() const { return written_ + buffer_.size(); }

 private:
  void flush_events();
  void section(uint32_t type, const void* data, uint64_t len);
  std::ostream& out_;
  std::vector<hs_event> buffer_;
  uint64_t written_ = 0;
};

class RecordingReader {
 public:
  // Reads and checks everything but the event payloads. Throws RecordingError with a one-line reason.
  explicit RecordingReader(std::istream& in);
  const TraceContext& context() const { return ctx_; }
  uint64_t event_count() const { return event_count_; }
  // Streams the events in file order, checking each chunk's CRC before handing out any of its events.
  void for_each_event(const std::function<void(const hs_event&)>& fn);

 private:
  std::istream& in_;
  TraceContext ctx_;
  std::vector<std::pair<uint64_t, uint64_t>> event_sections_;  // offset of payload, length
  uint64_t event_count_ = 0;
};

// The metadata section as JSON text and back (exposed for tests and for the JSON report).
std::string context_to_json(const TraceContext& ctx);
TraceContext context_from_json(const std::string& text);

}  // namespace holdscope
