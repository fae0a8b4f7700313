// Strings that come from the traced system or from a recording (task names, the kernel release, the command line,
// cache and symbol names) are untrusted: any bytes at all. They are made safe once, where they enter a recording or
// are read back from one, so that every output (text on a terminal, JSON) can use them as they are.
#pragma once
#include <string>
#include <string_view>

namespace holdscope {

// Valid, printable UTF-8 is kept; every other byte (invalid or truncated UTF-8, control characters such as a
// terminal's escape) becomes \xNN. The result is valid, printable UTF-8, and escaping it again changes nothing, so
// both boundaries (recording, reading back) apply it. A name that really contains the text "\xNN" reads the same.
std::string escape_untrusted(std::string_view raw);

}  // namespace holdscope
