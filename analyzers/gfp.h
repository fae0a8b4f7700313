// GFP flag names and values as the traced kernel defines them. Bit positions differ between kernel versions, so the
// table is parsed from the kernel's own mm_page_alloc print format at record time and stored in the recording.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace holdscope {

class GfpTable {
 public:
  GfpTable() = default;
  explicit GfpTable(std::vector<std::pair<uint64_t, std::string>> flags);

  // Parses the __print_flags(...) list of a tracepoint "print fmt" line. Throws std::runtime_error when none is found.
  static GfpTable from_print_fmt(const std::string& print_fmt);

  // Same algorithm as the kernel's __print_flags: names in table order, each consuming its bits.
  std::string decode(uint64_t gfp) const;
  // An allocation that may enter direct reclaim, and so sleep.
  bool may_sleep(uint64_t gfp) const { return direct_reclaim_ != 0 && (gfp & direct_reclaim_) != 0; }
  uint64_t value_of(const std::string& name) const;
  const std::vector<std::pair<uint64_t, std::string>>& flags() const { return flags_; }
  bool empty() const { return flags_.empty(); }

 private:
  std::vector<std::pair<uint64_t, std::string>> flags_;
  uint64_t direct_reclaim_ = 0;
};

}  // namespace holdscope
