// The protobuf wire codec: every wire type round-trips with edge values; malformed input gives
// bigmodel::error with the right id; message_meta replays field order and unknown fields.

#include <catch2/catch.hpp>

#include <bigmodel/io/protobuf.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "io_test_util.hpp"

namespace {

using namespace bigmodel::io::protobuf;
using bigmodel::io::shared_bytes;

template <class Encode>
std::vector<std::byte> encode(Encode&& e) {
  return serialize(std::forward<Encode>(e));
}

using io_test::error_id;

constexpr std::uint32_t known_fields[] = {1, 2, 3};

}  // namespace

TEST_CASE("varint round trip of edge values", "[io][protobuf]") {
  const std::uint64_t values[] = {0, 1, 127, 128, 255, 300, 16383, 16384, (1ull << 32) - 1, 1ull << 32,
                                  (1ull << 63) - 1, 1ull << 63, std::numeric_limits<std::uint64_t>::max()};
  for (std::uint64_t v : values) {
    const auto bytes = encode([&](auto& w) { w.varint(v); });
    CHECK(bytes.size() == varint_size(v));
    error_context ctx;
    reader r(bytes, ctx);
    CHECK(r.read_varint() == v);
    CHECK(r.at_end());
  }
  CHECK(varint_size(0) == 1);
  CHECK(varint_size(std::numeric_limits<std::uint64_t>::max()) == 10);
}

TEST_CASE("negative int32 and int64 take ten bytes and read back", "[io][protobuf]") {
  const auto b = encode([](auto& w) {
    w.field_int32(1, -1);
    w.field_int64(2, std::numeric_limits<std::int64_t>::min());
  });
  CHECK(b.size() == 22);
  error_context ctx;
  reader r(b, ctx);
  auto h = r.read_tag();
  CHECK(h.number == 1);
  CHECK(static_cast<std::int32_t>(r.read_varint()) == -1);
  h = r.read_tag();
  CHECK(h.number == 2);
  CHECK(static_cast<std::int64_t>(r.read_varint()) == std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("zigzag", "[io][protobuf]") {
  CHECK(zigzag_encode(0) == 0);
  CHECK(zigzag_encode(-1) == 1);
  CHECK(zigzag_encode(1) == 2);
  CHECK(zigzag_encode(-2) == 3);
  CHECK(zigzag_encode(std::numeric_limits<std::int64_t>::max()) == std::numeric_limits<std::uint64_t>::max() - 1);
  CHECK(zigzag_encode(std::numeric_limits<std::int64_t>::min()) == std::numeric_limits<std::uint64_t>::max());
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{123456789}, std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()})
    CHECK(zigzag_decode(zigzag_encode(v)) == v);
  for (std::int32_t v : {0, -1, 1, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()})
    CHECK(zigzag_decode32(zigzag_encode32(v)) == v);
  const auto b = encode([](auto& w) { w.field_sint64(3, -64); });
  error_context ctx;
  reader r(b, ctx);
  (void)r.read_tag();
  CHECK(zigzag_decode(r.read_varint()) == -64);
}

TEST_CASE("fixed32, fixed64, float, double, bytes", "[io][protobuf]") {
  const float nan_payload = std::bit_cast<float>(0x7fc12345u);
  const auto b = encode([&](auto& w) {
    w.field_fixed32(1, 0xdeadbeefu);
    w.field_fixed64(2, 0x0123456789abcdefull);
    w.field_float(3, -0.0f);
    w.field_float(4, nan_payload);
    w.field_double(5, std::numeric_limits<double>::infinity());
    w.field_string(6, "hello");
    w.field_string(7, "");
  });
  error_context ctx;
  reader r(b, ctx);
  auto h = r.read_tag();
  CHECK((h.number == 1 && h.type == wire_type::fixed32));
  CHECK(r.read_fixed32() == 0xdeadbeefu);
  h = r.read_tag();
  CHECK((h.number == 2 && h.type == wire_type::fixed64));
  CHECK(r.read_fixed64() == 0x0123456789abcdefull);
  (void)r.read_tag();
  CHECK(std::signbit(r.read_float()));
  (void)r.read_tag();
  CHECK(std::bit_cast<std::uint32_t>(r.read_float()) == 0x7fc12345u);  // payload kept bit for bit
  (void)r.read_tag();
  CHECK(std::isinf(r.read_double()));
  h = r.read_tag();
  CHECK((h.number == 6 && h.type == wire_type::length_delimited));
  const auto s = r.read_length_delimited();
  CHECK(std::string(reinterpret_cast<const char*>(s.data()), s.size()) == "hello");
  CHECK(s.data() >= b.data());  // a view, not a copy
  CHECK(s.data() < b.data() + b.size());
  (void)r.read_tag();
  CHECK(r.read_string().empty());
  CHECK(r.at_end());
}

TEST_CASE("nested messages get their sizes from the counting pass", "[io][protobuf]") {
  const auto b = encode([](auto& w) {
    w.field_message(1, [](auto& a) {
      a.field_string(1, std::string(200, 'x'));  // inner length needs a 2-byte varint
      a.field_message(2, [](auto& c) { c.field_int64(1, 7); });
    });
    w.field_int64(2, 9);
  });
  error_context ctx;
  reader r(b, ctx);
  auto h = r.read_tag();
  CHECK(h.number == 1);
  reader sub = r.sub(r.read_length_delimited());
  (void)sub.read_tag();
  CHECK(sub.read_string().size() == 200);
  (void)sub.read_tag();
  reader sub2 = sub.sub(sub.read_length_delimited());
  (void)sub2.read_tag();
  CHECK(sub2.read_varint() == 7);
  CHECK(sub.at_end());
  (void)r.read_tag();
  CHECK(r.read_varint() == 9);
  CHECK(r.at_end());
}

TEST_CASE("packed repeated fields", "[io][protobuf]") {
  const std::vector<std::int64_t> v = {0, -1, 300, std::numeric_limits<std::int64_t>::max()};
  const auto b = encode([&](auto& w) {
    w.field_message(4, [&](auto& p) {
      for (auto x : v) p.varint(static_cast<std::uint64_t>(x));
    });
  });
  error_context ctx;
  reader r(b, ctx);
  (void)r.read_tag();
  reader p = r.sub(r.read_length_delimited());
  std::vector<std::int64_t> back;
  while (!p.at_end()) back.push_back(static_cast<std::int64_t>(p.read_varint()));
  CHECK(back == v);
}

TEST_CASE("malformed wire data gives errors with ids and offsets", "[io][protobuf]") {
  error_context ctx;
  ctx.domain = "t";
  auto run = [&](std::initializer_list<int> bytes, auto&& f) {
    const auto b = io_test::bytes_of(bytes);
    return error_id([&] {
      reader r(b.span(), ctx);
      f(r);
    });
  };
  CHECK(run({0x80}, [](reader& r) { (void)r.read_varint(); }) == "t.truncated");
  CHECK(run({}, [](reader& r) { (void)r.read_varint(); }) == "t.truncated");
  CHECK(run({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01}, [](reader& r) { (void)r.read_varint(); }) ==
        "t.varint_too_long");
  CHECK(run({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, [](reader& r) { (void)r.read_varint(); }) ==
        "t.varint_overflow");
  CHECK(run({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, [](reader& r) {
          REQUIRE(r.read_varint() == std::numeric_limits<std::uint64_t>::max());
        }) == "no error");
  CHECK(run({1, 2, 3}, [](reader& r) { (void)r.read_fixed32(); }) == "t.truncated");
  CHECK(run({1, 2, 3, 4, 5, 6, 7}, [](reader& r) { (void)r.read_fixed64(); }) == "t.truncated");
  CHECK(run({5, 'a', 'b'}, [](reader& r) { (void)r.read_length_delimited(); }) == "t.length_past_end");
  CHECK(run({0xff, 0xff, 0xff, 0xff, 0x0f}, [](reader& r) { (void)r.read_length_delimited(); }) == "t.length_past_end");
  CHECK(run({0x0b}, [](reader& r) { (void)r.read_tag(); }) == "t.wire_type");  // start group
  CHECK(run({0x0c}, [](reader& r) { (void)r.read_tag(); }) == "t.wire_type");  // end group
  CHECK(run({0x0e}, [](reader& r) { (void)r.read_tag(); }) == "t.wire_type");  // 6
  CHECK(run({0x0f}, [](reader& r) { (void)r.read_tag(); }) == "t.wire_type");  // 7
  CHECK(run({0x00}, [](reader& r) { (void)r.read_tag(); }) == "t.field_number");
  CHECK(run({0x80, 0x80, 0x80, 0x80, 0x20}, [](reader& r) { (void)r.read_tag(); }) == "t.field_number");

  // offset and path in the context
  const auto b = io_test::bytes_of({0x08, 0x01, 0x12, 0x05, 'a'});
  try {
    reader r(b.span(), ctx);
    path_scope ps(ctx, "graph");
    path_scope ps2(ctx, "node", 3);
    (void)r.read_tag();
    (void)r.read_varint();
    (void)r.read_tag();
    (void)r.read_length_delimited();
    FAIL("no error");
  } catch (const bigmodel::error& e) {
    CHECK(e.id() == "t.length_past_end");
    CHECK(e.context() == "offset 3, field graph.node[3]");
  }
  CHECK(ctx.path.empty());
}

TEST_CASE("message_meta replays field order and unknown records", "[io][protobuf]") {
  // Field 3, an unknown 9, field 1, unknown 10: written back in exactly that order.
  const auto input = encode([](auto& w) {
    w.field_int64(3, 30);
    w.field_string(9, "future");
    w.field_int64(1, 10);
    w.field_fixed32(10, 5);
  });
  const shared_bytes in = io_test::bytes_of(input);
  message_meta meta;
  std::int64_t f1 = 0, f3 = 0;
  error_context ctx;
  reader r(in.span(), ctx);
  while (!r.at_end()) {
    const std::byte* start = r.position();
    const auto h = r.read_tag();
    if (h.number == 1 || h.number == 3) {
      (h.number == 1 ? f1 : f3) = static_cast<std::int64_t>(r.read_varint());
      meta.mark(h.number);
    } else {
      r.skip(h.type);
      meta.add_unknown(h.number, shared_bytes(in.owner(), start, static_cast<std::size_t>(r.position() - start)));
    }
  }
  REQUIRE(meta.unknown.size() == 2);
  CHECK(in.contains(meta.unknown[0].record.data()));  // kept as a view
  std::int64_t f2 = 0;
  auto write = [&](auto& w) {
    emit_fields(w, meta, std::span<const std::uint32_t>(known_fields), [&](std::uint32_t f) {
      if (f == 1) w.field_int64(1, f1);
      if (f == 2 && f2) w.field_int64(2, f2);
      if (f == 3) w.field_int64(3, f3);
    });
  };
  CHECK(io_test::same_bytes(encode(write), input));
  f2 = 20;  // a field set after parsing goes after the replayed ones
  const auto with2 = encode(write);
  CHECK(with2.size() == input.size() + 2);
  CHECK(io_test::same_bytes(std::span(with2).first(input.size()), input));
}
