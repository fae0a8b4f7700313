#include "analyzers/gfp.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace holdscope {

GfpTable::GfpTable(std::vector<std::pair<uint64_t, std::string>> flags) : flags_(std::move(flags)) {
  direct_reclaim_ = value_of("__GFP_DIRECT_RECLAIM");
}

uint64_t GfpTable::value_of(const std::string& name) const {
  for (const auto& [value, n] : flags_)
    if (n == name) return value;
  return 0;
}

std::string GfpTable::decode(uint64_t gfp) const {
  if (gfp == 0) return "0";
  std::string out;
  uint64_t rest = gfp;
  for (const auto& [mask, name] : flags_) {
    if (mask == 0 || (rest & mask) != mask) continue;
    rest &= ~mask;
    if (!out.empty()) out += '|';
    out += name;
  }
  if (rest != 0) {
    char buf[32];
    snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(rest));
    if (!out.empty()) out += '|';
    out += buf;
  }
  return out;
}

namespace {

// The print format is C: the flag values are constant expressions made of casts, shifts, |, & and ~ over integer
// literals. A recursive-descent evaluator of exactly that subset; anything else is a parse error, not a guess.
class ExprParser {
 public:
  ExprParser(const std::string& s, size_t pos) : s_(s), pos_(pos) {}

  uint64_t expr() { return or_expr(); }
  size_t pos() const { return pos_; }

  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) pos_++;
  }
  bool eat(const char* tok) {
    skip_ws();
    size_t n = strlen(tok);
    if (s_.compare(pos_, n, tok) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }
  void expect(const char* tok) {
    if (!eat(tok)) fail(std::string("expected '") + tok + "'");
  }
  bool at_string() {
    skip_ws();
    return pos_ < s_.size() && s_[pos_] == '"';
  }
  std::string string_literal() {
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string literal");
    size_t end = s_.find('"', pos_ + 1);
    if (end == std::string::npos) fail("unterminated string literal");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("gfp print format: " + what + " at offset " + std::to_string(pos_));
  }

 private:
  uint64_t or_expr() {
    uint64_t v = and_expr();
    for (;;) {
      skip_ws();
      if (pos_ + 1 < s_.size() && s_[pos_] == '|' && s_[pos_ + 1] != '|') {
        pos_++;
        v |= and_expr();
      } else {
        return v;
      }
    }
  }
  uint64_t and_expr() {
    uint64_t v = shift_expr();
    for (;;) {
      skip_ws();
      if (pos_ + 1 < s_.size() && s_[pos_] == '&' && s_[pos_ + 1] != '&') {
        pos_++;
        v &= shift_expr();
      } else {
        return v;
      }
    }
  }
  uint64_t shift_expr() {
    uint64_t v = unary();
    for (;;) {
      if (eat("<<")) {
        uint64_t n = unary();
        v = n >= 64 ? 0 : v << n;
      } else if (eat(">>")) {
        uint64_t n = unary();
        v = n >= 64 ? 0 : v >> n;
      } else {
        return v;
      }
    }
  }
  uint64_t unary() {
    if (eat("~")) return ~unary();
    return primary();
  }
  bool at_cast() {
    // "(" identifier-words ")" is a cast, e.g. "( gfp_t)" or "(unsigned long)" or "(__force gfp_t)".
    size_t p = pos_ + 1;
    bool any = false;
    while (p < s_.size()) {
      char c = s_[p];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        any = true;
        p++;
      } else if (std::isdigit(static_cast<unsigned char>(c)) && any) {
        p++;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        p++;
      } else {
        break;
      }
    }
    if (any && p < s_.size() && s_[p] == ')') {
      pos_ = p + 1;
      return true;
    }
    return false;
  }
  uint64_t primary() {
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end");
    if (s_[pos_] == '(') {
      if (at_cast()) return unary();
      pos_++;
      uint64_t v = expr();
      expect(")");
      return v;
    }
    if (std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      size_t used = 0;
      uint64_t v = std::stoull(s_.substr(pos_, 24), &used, 0);
      pos_ += used;
      while (pos_ < s_.size() && (s_[pos_] == 'u' || s_[pos_] == 'U' || s_[pos_] == 'l' || s_[pos_] == 'L')) pos_++;
      return v;
    }
    fail("unexpected character");
  }

  const std::string& s_;
  size_t pos_;
};

}  // namespace

GfpTable GfpTable::from_print_fmt(const std::string& fmt) {
  const std::string marker = "__print_flags(";
  size_t at = fmt.find(marker);
  if (at == std::string::npos) throw std::runtime_error("gfp print format: no __print_flags list found");
  // Skip the value argument and the separator string: __print_flags(REC->gfp_flags, "|", {..}, ...)
  size_t sep = fmt.find("\"|\"", at);
  if (sep == std::string::npos) throw std::runtime_error("gfp print format: no flag separator found");
  ExprParser p(fmt, sep + 3);
  std::vector<std::pair<uint64_t, std::string>> flags;
  while (p.eat(",")) {
    if (!p.eat("{")) break;
    uint64_t value = p.expr();
    p.expect(",");
    if (!p.at_string()) break;  // the { 0, NULL } sentinel that closes the list
    std::string name = p.string_literal();
    p.expect("}");
    flags.emplace_back(value, std::move(name));
  }
  if (flags.empty()) throw std::runtime_error("gfp print format: empty flag list");
  return GfpTable(std::move(flags));
}

}  // namespace holdscope
