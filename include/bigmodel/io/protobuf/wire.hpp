#pragma once
// Protocol-buffers wire format, read and written by hand (no protobuf library).
//
// reader: a bounds-checked cursor over a byte span. Every read checks the remaining length first, so a
// malformed buffer gives bigmodel::error (id "<domain>.truncated", ".varint_too_long", ".varint_overflow",
// ".wire_type", ".length_past_end", ".field_number") with the absolute offset and the field path, never an
// out-of-bounds read. Length-delimited payloads are returned as views: nothing is copied or allocated from a
// declared size.
//
// writer<Sink>: emits fields into a sink. Nested messages need their length before their bytes; the
// writer runs the same encoding twice -- once into a size_counter that records every nested length in
// pre-order into a size_cache, once into the real sink replaying them -- so nothing is serialized twice into
// temporary buffers (protobuf's cached-size scheme).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../core/error.hpp"

namespace bigmodel::io::protobuf {

enum class wire_type : std::uint8_t {
  varint = 0,
  fixed64 = 1,
  length_delimited = 2,
  start_group = 3,  // deprecated groups: refused
  end_group = 4,
  fixed32 = 5,
};

inline constexpr std::uint32_t max_field_number = (1u << 29) - 1;
inline constexpr std::size_t max_varint_bytes = 10;

// ZigZag maps signed to unsigned so small magnitudes stay short (sint32/sint64).
[[nodiscard]] constexpr std::uint64_t zigzag_encode(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
[[nodiscard]] constexpr std::int64_t zigzag_decode(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}
[[nodiscard]] constexpr std::uint32_t zigzag_encode32(std::int32_t v) noexcept {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
[[nodiscard]] constexpr std::int32_t zigzag_decode32(std::uint32_t v) noexcept {
  return static_cast<std::int32_t>(v >> 1) ^ -static_cast<std::int32_t>(v & 1);
}

[[nodiscard]] constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  return static_cast<std::size_t>((64 - std::countl_zero(v | 1) + 6) / 7);
}
[[nodiscard]] constexpr std::uint64_t make_tag(std::uint32_t field, wire_type t) noexcept {
  return (std::uint64_t{field} << 3) | static_cast<std::uint64_t>(t);
}

// Where a reader is: used only to word errors. path holds (field name, index or npos) frames.
struct error_context {
  static constexpr std::size_t no_index = static_cast<std::size_t>(-1);
  struct frame {
    const char* name;
    std::size_t index;
  };
  std::string domain = "protobuf";  // error id prefix ("onnx" for ONNX files)
  std::string source;               // file name, if any
  std::vector<frame> path;

  [[nodiscard]] std::string describe(std::size_t offset) const {
    std::string s;
    if (!source.empty()) s.append(source).append(": ");
    s.append("offset ").append(std::to_string(offset));
    if (!path.empty()) {
      s.append(", field ");
      for (std::size_t i = 0; i < path.size(); ++i) {
        if (i) s.push_back('.');
        s.append(path[i].name);
        if (path[i].index != no_index) s.append("[").append(std::to_string(path[i].index)).append("]");
      }
    }
    return s;
  }
  [[noreturn]] void fail(std::string_view kind, const std::string& message, std::size_t offset) const {
    throw error(domain + "." + std::string(kind), message, describe(offset));
  }
};

// Pushes a path frame for the lifetime of the scope.
class path_scope {
 public:
  path_scope(error_context& ctx, const char* name, std::size_t index = error_context::no_index) : ctx_(ctx) {
    ctx_.path.push_back({name, index});
  }
  path_scope(const path_scope&) = delete;
  path_scope& operator=(const path_scope&) = delete;
  ~path_scope() { ctx_.path.pop_back(); }

 private:
  error_context& ctx_;
};

struct field_header {
  std::uint32_t number = 0;
  wire_type type = wire_type::varint;
  std::size_t offset = 0;  // absolute offset of the tag
};

class reader {
 public:
  // base_offset: absolute offset of data[0] in the file (for error messages).
  reader(std::span<const std::byte> data, error_context& ctx, std::size_t base_offset = 0) noexcept
      : begin_(data.data()), pos_(data.data()), end_(data.data() + data.size()), base_(base_offset), ctx_(&ctx) {}

  [[nodiscard]] bool at_end() const noexcept { return pos_ == end_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }
  [[nodiscard]] std::size_t offset() const noexcept { return base_ + static_cast<std::size_t>(pos_ - begin_); }
  [[nodiscard]] const std::byte* position() const noexcept { return pos_; }
  [[nodiscard]] error_context& context() const noexcept { return *ctx_; }
  [[noreturn]] void fail(std::string_view kind, const std::string& message) const { ctx_->fail(kind, message, offset()); }

  [[nodiscard]] std::uint64_t read_varint() {
    const std::size_t start = offset();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < max_varint_bytes; ++i) {
      if (pos_ == end_) ctx_->fail("truncated", "input ends inside a varint", start);
      const auto b = std::to_integer<std::uint8_t>(*pos_++);
      if (i == max_varint_bytes - 1) {
        if (b & 0x80) ctx_->fail("varint_too_long", "varint longer than 10 bytes", start);
        if (b > 1) ctx_->fail("varint_overflow", "varint does not fit in 64 bits", start);
      }
      v |= std::uint64_t{b & 0x7fu} << (7 * i);
      if (!(b & 0x80)) return v;
    }
    return v;  // unreachable
  }
  [[nodiscard]] std::uint32_t read_fixed32() { return read_le<std::uint32_t>("fixed32"); }
  [[nodiscard]] std::uint64_t read_fixed64() { return read_le<std::uint64_t>("fixed64"); }
  [[nodiscard]] float read_float() { return std::bit_cast<float>(read_fixed32()); }
  [[nodiscard]] double read_double() { return std::bit_cast<double>(read_fixed64()); }

  // Reads a length prefix and returns a view of the payload (no copy).
  [[nodiscard]] std::span<const std::byte> read_length_delimited() {
    const std::size_t start = offset();
    const std::uint64_t n = read_varint();
    if (n > remaining())
      ctx_->fail("length_past_end",
                 "declared length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) + " bytes left",
                 start);
    std::span<const std::byte> s(pos_, static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  [[nodiscard]] std::string read_string() {
    auto s = read_length_delimited();
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }

  [[nodiscard]] field_header read_tag() {
    field_header h;
    h.offset = offset();
    const std::uint64_t tag = read_varint();
    const auto t = static_cast<std::uint8_t>(tag & 7);
    if (t == 3 || t == 4) ctx_->fail("wire_type", "groups (wire types 3/4) are not supported", h.offset);
    if (t > 5) ctx_->fail("wire_type", "invalid wire type " + std::to_string(t), h.offset);
    const std::uint64_t number = tag >> 3;
    if (number == 0 || number > max_field_number)
      ctx_->fail("field_number", "invalid field number " + std::to_string(number), h.offset);
    h.number = static_cast<std::uint32_t>(number);
    h.type = static_cast<wire_type>(t);
    return h;
  }

  // Skips the payload of a field whose tag has been read.
  void skip(wire_type t) {
    switch (t) {
      case wire_type::varint: (void)read_varint(); return;
      case wire_type::fixed64: need(8, "fixed64"); pos_ += 8; return;
      case wire_type::fixed32: need(4, "fixed32"); pos_ += 4; return;
      case wire_type::length_delimited: (void)read_length_delimited(); return;
      default: fail("wire_type", "cannot skip this wire type");
    }
  }

  // Fails unless the field has the wire type expected for it.
  void expect(const field_header& h, wire_type t, const char* field) const {
    if (h.type != t)
      ctx_->fail("wire_type",
                 std::string("field ") + field + " (" + std::to_string(h.number) + ") has wire type " +
                     std::to_string(static_cast<int>(h.type)) + ", expected " + std::to_string(static_cast<int>(t)),
                 h.offset);
  }

  // A reader over a payload previously returned by read_length_delimited.
  [[nodiscard]] reader sub(std::span<const std::byte> payload) const noexcept {
    return reader(payload, *ctx_, base_ + static_cast<std::size_t>(payload.data() - begin_));
  }

 private:
  template <class U>
  U read_le(const char* what) {
    need(sizeof(U), what);
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(std::to_integer<std::uint8_t>(pos_[i])) << (8 * i);
    pos_ += sizeof(U);
    return v;
  }
  void need(std::size_t n, const char* what) const {
    if (remaining() < n) fail("truncated", std::string("input ends inside a ") + what);
  }

  const std::byte* begin_;
  const std::byte* pos_;
  const std::byte* end_;
  std::size_t base_;
  error_context* ctx_;
};

// ---- writing ---------------------------------------------------------------------------------------------

// Sinks: put(bytes, n). size_counter only counts.
struct size_counter {
  std::size_t n = 0;
  void put(const std::byte*, std::size_t k) noexcept { n += k; }
};
struct vector_sink {
  std::vector<std::byte>* out;
  void put(const std::byte* p, std::size_t k) { out->insert(out->end(), p, p + k); }
};

// Lengths of nested messages in pre-order, filled by the counting pass and replayed by the writing pass.
struct size_cache {
  std::vector<std::size_t> sizes;
  std::size_t next = 0;
};

template <class Sink>
class writer {
 public:
  static constexpr bool counting = std::is_same_v<Sink, size_counter>;

  writer(Sink& sink, size_cache& cache) noexcept : sink_(&sink), cache_(&cache) {}

  void raw(const void* p, std::size_t n) { sink_->put(static_cast<const std::byte*>(p), n); }
  void raw(std::span<const std::byte> s) { raw(s.data(), s.size()); }

  void varint(std::uint64_t v) {
    std::byte buf[max_varint_bytes];
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<std::byte>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<std::byte>(v);
    raw(buf, n);
  }
  template <class U>
  void little_endian(U v) {
    std::byte b[sizeof(U)];
    for (std::size_t i = 0; i < sizeof(U); ++i) b[i] = static_cast<std::byte>(v >> (8 * i));
    raw(b, sizeof(U));
  }
  void fixed32(std::uint32_t v) { little_endian(v); }
  void fixed64(std::uint64_t v) { little_endian(v); }
  void tag(std::uint32_t field, wire_type t) { varint(make_tag(field, t)); }

  // Typed fields. int32 values are sign-extended to 64 bits, as protobuf does (negatives take 10 bytes).
  void field_uint64(std::uint32_t f, std::uint64_t v) { tag(f, wire_type::varint), varint(v); }
  void field_int64(std::uint32_t f, std::int64_t v) { field_uint64(f, static_cast<std::uint64_t>(v)); }
  void field_int32(std::uint32_t f, std::int32_t v) { field_uint64(f, static_cast<std::uint64_t>(std::int64_t{v})); }
  void field_sint64(std::uint32_t f, std::int64_t v) { field_uint64(f, zigzag_encode(v)); }
  void field_float(std::uint32_t f, float v) { tag(f, wire_type::fixed32), fixed32(std::bit_cast<std::uint32_t>(v)); }
  void field_double(std::uint32_t f, double v) { tag(f, wire_type::fixed64), fixed64(std::bit_cast<std::uint64_t>(v)); }
  void field_fixed32(std::uint32_t f, std::uint32_t v) { tag(f, wire_type::fixed32), fixed32(v); }
  void field_fixed64(std::uint32_t f, std::uint64_t v) { tag(f, wire_type::fixed64), fixed64(v); }
  void field_bytes(std::uint32_t f, std::span<const std::byte> s) {
    tag(f, wire_type::length_delimited);
    varint(s.size());
    raw(s);
  }
  void field_string(std::uint32_t f, std::string_view s) {
    field_bytes(f, std::as_bytes(std::span<const char>(s.data(), s.size())));
  }

  // A nested message (or packed run) whose content is produced by body(*this).
  template <class Body>
  void field_message(std::uint32_t f, Body&& body) {
    tag(f, wire_type::length_delimited);
    if constexpr (counting) {
      const std::size_t idx = cache_->sizes.size();
      cache_->sizes.push_back(0);
      const std::size_t start = sink_->n;
      body(*this);
      const std::size_t len = sink_->n - start;
      cache_->sizes[idx] = len;
      sink_->n += varint_size(len);
    } else {
      const std::size_t len = cache_->sizes.at(cache_->next++);
      varint(len);
      body(*this);
    }
  }

 private:
  Sink* sink_;
  size_cache* cache_;
};

// Serializes with encode(writer&) twice: counts (recording nested sizes), then writes into sink.
// Returns the total size.
template <class Sink, class Encode>
std::size_t write_message(Sink& sink, Encode&& encode) {
  size_cache cache;
  size_counter counter;
  writer<size_counter> cw(counter, cache);
  encode(cw);
  writer<Sink> w(sink, cache);
  encode(w);
  return counter.n;
}

template <class Encode>
[[nodiscard]] std::vector<std::byte> serialize(Encode&& encode) {
  size_cache cache;
  size_counter counter;
  writer<size_counter> cw(counter, cache);
  encode(cw);
  std::vector<std::byte> out;
  out.reserve(counter.n);
  vector_sink vs{&out};
  writer<vector_sink> w(vs, cache);
  encode(w);
  return out;
}

}  // namespace bigmodel::io::protobuf
