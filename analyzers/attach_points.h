// The four places the design names (LRU drains, khugepaged collapses, anon_vma_clone, the allocator slow path), how
// each is observed, and the names of mmap_lock's modes. One list of points: the loader's plan (tool/probes.h), the analyzer, the command line's help and its errors
// all take the names from here.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace holdscope {

enum AttachPoint { kLruDrain = 0, kKhugepaged = 1, kAnonVmaClone = 2, kAllocSlowpath = 3, kAttachPoints = 4 };

inline constexpr std::array<const char*, kAttachPoints> kAttachPointNames = {"lru_drain", "khugepaged",
                                                                             "anon_vma_clone", "alloc_slowpath"};

// "lru_drain, khugepaged, anon_vma_clone, alloc_slowpath", for help and error text.
inline std::string attach_point_list() {
  std::string s;
  for (const char* n : kAttachPointNames) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

// Direct: fentry/fexit brackets around the point's kernel functions. Inferred: from tracepoints alone. Unavailable:
// neither works on the traced kernel.
enum class AttachMode { direct, inferred, unavailable };

inline const char* to_string(AttachMode m) {
  switch (m) {
    case AttachMode::direct: return "direct";
    case AttachMode::inferred: return "inferred";
    case AttachMode::unavailable: return "unavailable";
  }
  return "unavailable";
}

inline std::optional<AttachMode> parse_attach_mode(std::string_view s) {
  for (AttachMode m : {AttachMode::direct, AttachMode::inferred, AttachMode::unavailable})
    if (s == to_string(m)) return m;
  return std::nullopt;
}

// The mmap_lock a task holds (the strongest, if it holds several): the values of bpf/holdscope_events.h's HS_MODE_*,
// which the analyzer also uses as indices of its none/read/write arrays.
enum class LockMode : int { none = 0, read = 1, write = 2 };
inline constexpr int kLockModes = 3;

inline const char* to_string(LockMode m) {
  switch (m) {
    case LockMode::none: return "none";
    case LockMode::read: return "read";
    case LockMode::write: return "write";
  }
  return "none";
}

// The name of an index into a none/read/write array.
inline const char* lock_mode_name(int i) { return to_string(static_cast<LockMode>(i)); }
// A held lock's mode by its write bit.
inline const char* held_mode_name(bool write) { return to_string(write ? LockMode::write : LockMode::read); }

}  // namespace holdscope
