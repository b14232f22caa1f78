#pragma once
// A small strict JSON reader (RFC 8259) and writer helpers for bigmodel-serve.
//
// Strict: one value and only whitespace around it, no trailing commas, no comments, no duplicate object
// keys, no control characters or invalid UTF-8 in strings, nesting bounded (a hostile request cannot
// exhaust the stack). Numbers are kept as their source text and converted later with std::from_chars for
// the element type the tensor needs, so nothing is rounded twice and int64 stays exact.
//
// Memory: the parsed value points into the source text (string_view), which must outlive it. Arrays that
// hold only numbers keep just those views (16 bytes a number), so large tensors stay cheap to parse.

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace serve::json {

struct parse_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class kind : std::uint8_t { null, boolean, number, string, array, object };

[[nodiscard]] constexpr std::string_view kind_name(kind k) noexcept {
  switch (k) {
    case kind::null: return "null";
    case kind::boolean: return "a boolean";
    case kind::number: return "a number";
    case kind::string: return "a string";
    case kind::array: return "an array";
    case kind::object: return "an object";
  }
  return "?";
}

class value {
 public:
  [[nodiscard]] kind type() const noexcept { return kind_; }
  [[nodiscard]] bool is(kind k) const noexcept { return kind_ == k; }
  [[nodiscard]] bool boolean() const noexcept { return flag_; }
  // A number's source text, or a string's decoded text.
  [[nodiscard]] std::string_view text() const noexcept { return kind_ == kind::string ? std::string_view(str_) : num_; }

  // Arrays: numbers_only() arrays keep their elements as number texts.
  [[nodiscard]] bool numbers_only() const noexcept { return kind_ == kind::array && items_.empty(); }
  [[nodiscard]] const std::vector<std::string_view>& numbers() const noexcept { return numbers_; }
  [[nodiscard]] const std::vector<value>& items() const noexcept { return items_; }
  [[nodiscard]] std::size_t size() const noexcept { return items_.empty() ? numbers_.size() : items_.size(); }

  // Objects: members in source order; find() returns nullptr when absent.
  [[nodiscard]] const std::vector<std::pair<std::string, value>>& members() const noexcept { return members_; }
  [[nodiscard]] const value* find(std::string_view key) const noexcept {
    for (const auto& [k, v] : members_)
      if (k == key) return &v;
    return nullptr;
  }

 private:
  friend class reader;
  kind kind_ = kind::null;
  bool flag_ = false;
  std::string_view num_;
  std::string str_;
  std::vector<std::string_view> numbers_;
  std::vector<value> items_;
  std::vector<std::pair<std::string, value>> members_;
};

class reader {
 public:
  static constexpr int max_depth = 64;

  // Parses the whole text; throws parse_error naming the byte offset.
  [[nodiscard]] static value parse(std::string_view text) {
    reader r(text);
    r.skip_ws();
    value v = r.parse_value(0);
    r.skip_ws();
    if (r.pos_ != text.size()) r.fail("unexpected text after the JSON value");
    return v;
  }

 private:
  explicit reader(std::string_view t) : t_(t) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw parse_error("malformed JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  [[nodiscard]] bool at_end() const noexcept { return pos_ >= t_.size(); }
  [[nodiscard]] char peek() const noexcept { return at_end() ? '\0' : t_[pos_]; }
  void skip_ws() noexcept {
    while (!at_end() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c || at_end()) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  value parse_value(int depth) {
    if (depth > max_depth) fail("nesting deeper than " + std::to_string(max_depth));
    if (at_end()) fail("unexpected end of input");
    value v;
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') {
      v.kind_ = kind::string;
      v.str_ = parse_string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind_ = kind::number;
      v.num_ = parse_number();
    } else if (literal("true")) {
      v.kind_ = kind::boolean;
      v.flag_ = true;
    } else if (literal("false")) {
      v.kind_ = kind::boolean;
    } else if (!literal("null")) {
      fail(std::string("unexpected character '") + c + "'");
    }
    return v;
  }

  bool literal(std::string_view word) noexcept {
    if (t_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // open, then element() for each comma-separated element, then close; empty lists allowed.
  template <class Element>
  void delimited(char open, char close, Element&& element) {
    expect(open);
    skip_ws();
    if (peek() == close && !at_end()) {
      ++pos_;
      return;
    }
    for (;;) {
      skip_ws();
      element();
      skip_ws();
      if (peek() != ',' || at_end()) break;
      ++pos_;
    }
    expect(close);
  }

  value parse_array(int depth) {
    value v;
    v.kind_ = kind::array;
    delimited('[', ']', [&] {
      value item = parse_value(depth + 1);
      if (item.kind_ == kind::number && v.items_.empty()) {
        v.numbers_.push_back(item.num_);
        return;
      }
      for (auto n : v.numbers_) {  // the array turned out mixed: keep order, store every element
        value e;
        e.kind_ = kind::number;
        e.num_ = n;
        v.items_.push_back(std::move(e));
      }
      v.numbers_.clear();
      v.items_.push_back(std::move(item));
    });
    return v;
  }

  value parse_object(int depth) {
    value v;
    v.kind_ = kind::object;
    delimited('{', '}', [&] {
      if (peek() != '"' || at_end()) fail("expected a string key");
      std::string key = parse_string();
      if (v.find(key)) fail("duplicate key \"" + key + "\"");
      skip_ws();
      expect(':');
      skip_ws();
      value item = parse_value(depth + 1);
      v.members_.emplace_back(std::move(key), std::move(item));
    });
    return v;
  }

  std::string_view parse_number() {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t s = pos_;
      while (!at_end() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
      return pos_ - s;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0' && !at_end()) {
      ++pos_;
    } else if (digits() == 0) {
      fail("a number needs digits");
    }
    if (peek() == '.' && !at_end()) {
      ++pos_;
      if (digits() == 0) fail("a number needs digits after '.'");
    }
    if ((peek() == 'e' || peek() == 'E') && !at_end()) {
      ++pos_;
      if ((peek() == '+' || peek() == '-') && !at_end()) ++pos_;
      if (digits() == 0) fail("a number needs digits in its exponent");
    }
    return t_.substr(start, pos_ - start);
  }

  unsigned hex4() {
    if (pos_ + 4 > t_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = t_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // One UTF-8 sequence starting at pos_ (a byte >= 0x80): validated (no overlongs, no surrogates), copied.
  void copy_utf8(std::string& out) {
    const auto b0 = static_cast<unsigned char>(t_[pos_]);
    const int len = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    if (len == 0 || pos_ + static_cast<std::size_t>(len) > t_.size()) fail("invalid UTF-8 in a string");
    unsigned cp = b0 & (0x7Fu >> len);
    for (int i = 1; i < len; ++i) {
      const auto b = static_cast<unsigned char>(t_[pos_ + static_cast<std::size_t>(i)]);
      if ((b & 0xC0) != 0x80) fail("invalid UTF-8 in a string");
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      fail("invalid UTF-8 in a string");
    out.append(t_.substr(pos_, static_cast<std::size_t>(len)));
    pos_ += static_cast<std::size_t>(len);
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const char c = t_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (static_cast<unsigned char>(c) >= 0x80) {
        copy_utf8(out);
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail("unterminated escape");
      const char e = t_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!literal("\\u")) fail("high surrogate without its low half");
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate without its low half");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  std::string_view t_;
  std::size_t pos_ = 0;
};

// ------------------------------------------------------------------ number conversion (exact)

// The integer a JSON number text denotes, when it is one (no fraction, no exponent) and fits T.
template <class T>
[[nodiscard]] bool to_integer(std::string_view text, T& out) noexcept {
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && p == end;
}

// The nearest float / double (round to nearest even, as std::from_chars does). Values too small for the
// type become a signed zero, as IEEE rounding gives; values too large are refused (false).
template <class F>
[[nodiscard]] bool to_floating(std::string_view text, F& out) noexcept {
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, out);
  if (p != end) return false;
  if (ec == std::errc{}) return true;
  if (ec != std::errc::result_out_of_range) return false;
  // Out of range: underflow (|x| below the smallest subnormal) or overflow. Tell them apart by the exponent.
  long double wide = 0;
  const auto [q, ec2] = std::from_chars(text.data(), end, wide);
  const bool tiny = (ec2 == std::errc{} && q == end && std::fabs(wide) < 1.0L) ||
                    (ec2 == std::errc::result_out_of_range && text.find("e-") != std::string_view::npos) ||
                    (ec2 == std::errc::result_out_of_range && text.find("E-") != std::string_view::npos);
  if (!tiny) return false;
  out = text.front() == '-' ? -F(0) : F(0);
  return true;
}

// ------------------------------------------------------------------ writing

inline void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (u < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

[[nodiscard]] inline std::string quote(std::string_view s) {
  std::string out;
  write_string(out, s);
  return out;
}

// Shortest text that reads back to the same value (std::to_chars); JSON has no NaN or infinity, so those
// are written as the strings "NaN", "Infinity", "-Infinity".
template <class T>
void write_number(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) {
      out += "\"NaN\"";
      return;
    }
    if (std::isinf(v)) {
      out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      return;
    }
  }
  char buf[64];
  const auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? p : buf);
}

}  // namespace serve::json
