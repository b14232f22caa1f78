// .npy reader/writer: files written by numpy (tests/fixtures/npy, made by tests/fixtures/make_fixtures.py) against
// their closed-form contents, byte-exact round trips, and every class of malformed input.

#include <catch2/catch.hpp>

#include <bigmodel/io/npy.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using bigmodel::dtype;
using bigmodel::io::npy_array;

fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return fs::path(src ? src : ".") / "tests" / "fixtures";
}

std::vector<std::byte> file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f.good());
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
  return b;
}

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) b[i] = static_cast<std::byte>(s[i]);
  return b;
}

// A .npy image with the given version and header dict text (padded with spaces + '\n' to a multiple of 64
// unless raw), followed by data.
std::vector<std::byte> make_npy(std::string_view dict, std::string_view data = {}, int major = 1, bool raw = false) {
  std::string header(dict);
  const std::size_t pre = major == 1 ? 10 : 12;
  if (!raw) {
    const std::size_t pad = 64 - (pre + header.size() + 1) % 64;
    header.append(pad, ' ');
    header.push_back('\n');
  }
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const std::size_t n = header.size();
  out.push_back(static_cast<char>(n & 0xFF));
  out.push_back(static_cast<char>((n >> 8) & 0xFF));
  if (major != 1) {
    out.push_back(static_cast<char>((n >> 16) & 0xFF));
    out.push_back(static_cast<char>((n >> 24) & 0xFF));
  }
  out += header;
  out += data;
  return bytes_of(out);
}

std::string error_id(const std::vector<std::byte>& b) {
  try {
    (void)bigmodel::io::parse_npy(b, "test");
  } catch (const bigmodel::error& e) {
    return e.id();
  }
  return "no error";
}

template <class T>
void check_closed_form(const std::string& file, dtype type, T (*value)(int)) {
  INFO(file);
  const auto a = bigmodel::io::read_npy(fixtures() / "npy" / file);
  CHECK(a.type == type);
  CHECK(a.shape == std::vector<std::int64_t>{2, 3, 4});
  const auto v = a.to_vector<T>();
  REQUIRE(v.size() == 24);
  for (int i = 0; i < 24; ++i) CHECK(v[static_cast<std::size_t>(i)] == value(i));
}

}  // namespace

TEST_CASE("npy: numpy-written files of every type match their closed forms", "[io][npy]") {
  check_closed_form<float>("f32_2x3x4.npy", dtype::f32, [](int i) { return static_cast<float>(i - 10) * 0.25f; });
  check_closed_form<double>("f64_2x3x4.npy", dtype::f64, [](int i) { return (i - 10) * 0.125; });
  check_closed_form<std::int64_t>("i64_2x3x4.npy", dtype::s64,
                                  [](int i) { return std::int64_t{i - 12} * 1000000007; });
  check_closed_form<std::int32_t>("i32_2x3x4.npy", dtype::s32, [](int i) { return std::int32_t{(i - 12) * 100000}; });
  check_closed_form<std::int16_t>("i16_2x3x4.npy", dtype::s16,
                                  [](int i) { return static_cast<std::int16_t>((i - 12) * 1000); });
  check_closed_form<std::int8_t>("i8_2x3x4.npy", dtype::s8, [](int i) { return static_cast<std::int8_t>((i - 12) * 10); });
  check_closed_form<std::uint8_t>("u8_2x3x4.npy", dtype::u8, [](int i) { return static_cast<std::uint8_t>(i * 10); });

  const auto h = bigmodel::io::read_npy(fixtures() / "npy" / "f16_2x3x4.npy");
  CHECK(h.type == dtype::f16);
  const auto hv = h.to_vector<bigmodel::f16>();
  REQUIRE(hv.size() == 24);
  for (int i = 0; i < 24; ++i) CHECK(bigmodel::to_float(hv[static_cast<std::size_t>(i)]) == static_cast<float>(i - 10) * 0.5f);

  const auto b = bigmodel::io::read_npy(fixtures() / "npy" / "bool_2x3x4.npy");
  CHECK(b.type == dtype::boolean);
  const auto bv = b.to_vector<bool>();
  REQUIRE(bv.size() == 24);
  for (int i = 0; i < 24; ++i) CHECK(bv[static_cast<std::size_t>(i)] == (i % 3 == 0));
}

TEST_CASE("npy: scalar, empty, 1-d and version 2.0 / 3.0 headers", "[io][npy]") {
  const auto s = bigmodel::io::read_npy(fixtures() / "npy" / "f32_scalar.npy");
  CHECK(s.shape.empty());
  CHECK(s.element_count() == 1);
  CHECK(s.to_vector<float>() == std::vector<float>{3.5f});

  const auto e = bigmodel::io::read_npy(fixtures() / "npy" / "f32_empty_0x5.npy");
  CHECK(e.shape == std::vector<std::int64_t>{0, 5});
  CHECK(e.element_count() == 0);
  CHECK(e.data.empty());
  CHECK(e.to_vector<float>().empty());

  const auto r = bigmodel::io::read_npy(fixtures() / "npy" / "f32_arange_12.npy");
  CHECK(r.shape == std::vector<std::int64_t>{12});
  const auto rv = r.view<float>();
  for (std::size_t i = 0; i < 12; ++i) CHECK(rv[i] == static_cast<float>(i));

  const auto v2 = bigmodel::io::read_npy(fixtures() / "npy" / "i64_v2.npy");
  CHECK(v2.shape == std::vector<std::int64_t>{4, 6});
  const auto v2v = v2.to_vector<std::int64_t>();
  for (int i = 0; i < 24; ++i) CHECK(v2v[static_cast<std::size_t>(i)] == std::int64_t{i - 12} * 1000000007);

  const auto v3 = bigmodel::io::read_npy(fixtures() / "npy" / "u8_v3.npy");
  CHECK(v3.shape == std::vector<std::int64_t>{24, 1});
  CHECK(v3.to_vector<std::uint8_t>()[23] == 230);
}

TEST_CASE("npy: fortran-order and big-endian numpy files are refused", "[io][npy]") {
  const auto id_of = [](const char* f) {
    try {
      (void)bigmodel::io::read_npy(fixtures() / "npy" / f);
    } catch (const bigmodel::error& e) {
      CHECK(e.context().find(f) != std::string::npos);
      return e.id();
    }
    return std::string("no error");
  };
  CHECK(id_of("f32_fortran.npy") == "npy.fortran_order");
  CHECK(id_of("f32_bigendian.npy") == "npy.big_endian");
}

TEST_CASE("npy: the model fixtures read with the shapes and types the script wrote", "[io][npy]") {
  const auto x = bigmodel::io::read_npy(fixtures() / "digits_mlp" / "x_test.npy");
  CHECK(x.type == dtype::f32);
  CHECK(x.shape == std::vector<std::int64_t>{360, 64});
  for (float v : x.view<float>()) {  // pixels 0..16 scaled by 1/16: exact multiples of 1/16 in [0, 1]
    CHECK(v >= 0.0f);
    CHECK(v <= 1.0f);
    CHECK(v * 16.0f == std::round(v * 16.0f));
  }
  const auto y = bigmodel::io::read_npy(fixtures() / "digits_mlp" / "y_test.npy");
  CHECK(y.type == dtype::s64);
  CHECK(y.shape == std::vector<std::int64_t>{360});
  for (auto v : y.view<std::int64_t>()) CHECK((v >= 0 && v <= 9));
  CHECK(bigmodel::io::read_npy(fixtures() / "digits_cnn" / "x_test.npy").shape == std::vector<std::int64_t>{360, 1, 8, 8});
  CHECK(bigmodel::io::read_npy(fixtures() / "tiny_encoder" / "logits_fp32.npy").shape == std::vector<std::int64_t>{360, 10});
  const auto m = bigmodel::io::read_npy(fixtures() / "digits_mlp" / "masks" / "l1_unstructured_0.5.fc1.npy");
  CHECK(m.type == dtype::u8);
  CHECK(m.shape == std::vector<std::int64_t>{256, 64});
  std::size_t kept = 0;
  for (auto v : m.view<std::uint8_t>()) {
    CHECK(v <= 1);
    kept += v;
  }
  CHECK(kept == 256 * 64 / 2);
}

TEST_CASE("npy: writing gives numpy's bytes exactly, and reads back", "[io][npy]") {
  for (const char* f : {"f32_2x3x4.npy", "f64_2x3x4.npy", "f16_2x3x4.npy", "i64_2x3x4.npy", "i32_2x3x4.npy",
                        "i16_2x3x4.npy", "i8_2x3x4.npy", "u8_2x3x4.npy", "bool_2x3x4.npy", "f32_arange_12.npy",
                        "f32_scalar.npy", "f32_empty_0x5.npy"}) {
    INFO(f);
    const auto original = file_bytes(fixtures() / "npy" / f);
    const auto a = bigmodel::io::parse_npy(original, f);
    CHECK(bigmodel::io::serialize_npy(a) == original);
  }
  // version 2.0/3.0 inputs are written back as 1.0 (their header fits): same array
  for (const char* f : {"i64_v2.npy", "u8_v3.npy"}) {
    const auto a = bigmodel::io::read_npy(fixtures() / "npy" / f);
    CHECK(bigmodel::io::parse_npy(bigmodel::io::serialize_npy(a)) == a);
  }
}

TEST_CASE("npy: write_npy round trip through a file, atomically", "[io][npy]") {
  const fs::path dir = fs::temp_directory_path() /
      ("bigmodel_npy_test_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir);
  const std::vector<float> v{1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  const auto a = npy_array::from(v, {2, 3});
  bigmodel::io::write_npy(dir / "a.npy", a);
  const auto back = bigmodel::io::read_npy(dir / "a.npy");
  CHECK(back == a);
  CHECK(back.to_vector<float>() == v);

  const auto b = npy_array::from(std::vector<bool>{true, false, true}, {3});
  bigmodel::io::write_npy(dir / "b.npy", b);
  CHECK(bigmodel::io::read_npy(dir / "b.npy").to_vector<bool>() == std::vector<bool>{true, false, true});

  const std::vector<std::int32_t> big(70000, 7);
  bigmodel::io::write_npy(dir / "c.npy", npy_array::from(big, {70000}));
  CHECK(bigmodel::io::read_npy(dir / "c.npy").to_vector<std::int32_t>() == big);

  // a failed write leaves neither the target nor a temporary file behind
  npy_array bad = a;
  bad.data.pop_back();
  CHECK_THROWS_AS(bigmodel::io::write_npy(dir / "bad.npy", bad), bigmodel::error);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  CHECK(files == 3);
  fs::remove_all(dir);
}

TEST_CASE("npy: a header longer than 65535 bytes is written as version 2.0", "[io][npy]") {
  npy_array a;
  a.type = dtype::u8;
  a.shape.assign(30000, 1);  // "1, " per dimension: a 90 kB header
  a.data.assign(1, std::byte{42});
  const auto bytes = bigmodel::io::serialize_npy(a);
  CHECK(std::to_integer<int>(bytes[6]) == 2);
  CHECK(bytes.size() % 64 == 1);
  CHECK(bigmodel::io::parse_npy(bytes) == a);
}

TEST_CASE("npy: writer validation", "[io][npy]") {
  npy_array a;
  a.type = dtype::bf16;
  a.shape = {1};
  a.data.resize(2);
  CHECK_THROWS_WITH(bigmodel::io::serialize_npy(a), Catch::Contains("npy.unsupported_dtype"));
  a.type = dtype::f32;
  CHECK_THROWS_WITH(bigmodel::io::serialize_npy(a), Catch::Contains("npy.size_mismatch"));
  a.shape = {-1};
  CHECK_THROWS_WITH(bigmodel::io::serialize_npy(a), Catch::Contains("npy.bad_header"));
  a.shape = {1LL << 40, 1LL << 40};
  CHECK_THROWS_WITH(bigmodel::io::serialize_npy(a), Catch::Contains("npy.shape_overflow"));
  CHECK_THROWS_WITH(npy_array::from(std::vector<float>{1, 2, 3}, {2, 2}), Catch::Contains("npy.size_mismatch"));
  const auto f = npy_array::from(std::vector<float>{1, 2}, {2});
  CHECK_THROWS_WITH(f.to_vector<double>(), Catch::Contains("npy.dtype_mismatch"));
  CHECK_THROWS_WITH(f.view<std::int32_t>(), Catch::Contains("npy.dtype_mismatch"));
}

TEST_CASE("npy: every truncation of a valid file is an error, never a crash", "[io][npy]") {
  for (const char* f : {"f32_2x3x4.npy", "i64_v2.npy", "u8_v3.npy", "f32_scalar.npy"}) {
    const auto full = file_bytes(fixtures() / "npy" / f);
    for (std::size_t n = 0; n < full.size(); ++n) {
      INFO(f << " cut at " << n);
      const std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      try {
        (void)bigmodel::io::parse_npy(cut, f);
        FAIL("no error");
      } catch (const bigmodel::error& e) {
        CHECK(e.id() == "npy.truncated");
        CHECK(e.context().find("offset") != std::string::npos);
      }
    }
  }
}

TEST_CASE("npy: malformed preambles", "[io][npy]") {
  CHECK(error_id(bytes_of("PK\x03\x04 not npy at all")) == "npy.bad_magic");
  CHECK(error_id(bytes_of("\x93NUMPX")) == "npy.bad_magic");
  CHECK(error_id(bytes_of("x")) == "npy.bad_magic");
  CHECK(error_id({}) == "npy.truncated");
  const std::string_view good = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  auto v = make_npy(good, std::string_view("\0\0\x80\x3f", 4));
  CHECK(bigmodel::io::parse_npy(v).to_vector<float>() == std::vector<float>{1.0f});
  v[6] = std::byte{4};
  CHECK(error_id(v) == "npy.unsupported_version");
  v[6] = std::byte{0};
  CHECK(error_id(v) == "npy.unsupported_version");
  v[6] = std::byte{1};
  v[7] = std::byte{1};
  CHECK(error_id(v) == "npy.unsupported_version");
  // header length pointing past the end
  auto w = make_npy(good, std::string_view("\0\0\x80\x3f", 4));
  w[8] = std::byte{0xFF};
  w[9] = std::byte{0xFF};
  CHECK(error_id(w) == "npy.truncated");
  // the version 2.0 length field is 4 bytes
  auto v2 = make_npy(good, std::string_view("\0\0\x80\x3f", 4), 2);
  CHECK(bigmodel::io::parse_npy(v2).shape == std::vector<std::int64_t>{1});
  v2[11] = std::byte{0x10};
  CHECK(error_id(v2) == "npy.truncated");
}

TEST_CASE("npy: malformed header dicts", "[io][npy]") {
  const std::string four(4, '\0');
  const auto id = [&](std::string_view dict, std::string_view data) { return error_id(make_npy(dict, data)); };
  const std::string_view ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  CHECK(id(ok, four) == "no error");
  // variants numpy accepts and we do too
  CHECK(id("{\"descr\":\"<f4\",\"shape\":(1,),\"fortran_order\":False}", four) == "no error");
  CHECK(id("{'shape': (1, ), 'fortran_order': False, 'descr': '<f4'}", four) == "no error");
  CHECK(id("{'descr': '<f4', 'fortran_order': False, 'shape': (2,2,), }", four + four + four + four) == "no error");

  for (std::string_view bad : {
           "",                                                              // nothing
           "[]",                                                            // not a dict
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), ",      // unclosed
           "{'descr': '<f4', 'fortran_order': False}",                      // missing shape
           "{'descr': '<f4', 'shape': (1,)}",                               // missing fortran_order
           "{'fortran_order': False, 'shape': (1,)}",                       // missing descr
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",  // unknown key
           "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",  // duplicate key
           "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",        // missing comma
           "{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",       // not Python's False
           "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,)}",
           "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1)}",        // an int, not a tuple
           "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",        // a list
           "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",      // negative
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,)}",     // not an integer
           "{'descr': '<f4', 'fortran_order': False, 'shape': (01,)}",      // leading zero
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
           "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",        // broken quoting
           "{'descr': '<f\\4', 'fortran_order': False, 'shape': (1,)}",     // escapes
           "{descr: '<f4', 'fortran_order': False, 'shape': (1,)}",         // unquoted key
       }) {
    INFO(bad);
    CHECK(id(bad, four) == "npy.bad_header");
  }
  // trailing garbage after the dict, and a header not ended by '\n'
  CHECK(error_id(make_npy(std::string(ok) + " x\n", four, 1, true)) == "npy.bad_header");
  CHECK(error_id(make_npy(std::string(ok) + "   ", four, 1, true)) == "npy.bad_header");
  CHECK(error_id(make_npy(std::string(ok) + "\n", four, 1, true)) == "no error");
}

TEST_CASE("npy: element types, byte order, overflow and size mismatches", "[io][npy]") {
  const auto dict = [](std::string_view descr, std::string_view shape, bool fortran = false) {
    return "{'descr': '" + std::string(descr) + "', 'fortran_order': " + (fortran ? "True" : "False") +
           ", 'shape': " + std::string(shape) + ", }";
  };
  const auto id = [](const std::string& d, std::string_view data) { return error_id(make_npy(d, data)); };
  const std::string eight(8, '\0');
  CHECK(id(dict(">f4", "(2,)"), eight) == "npy.big_endian");
  CHECK(id(dict(">i8", "(1,)"), eight) == "npy.big_endian");
  CHECK(id(dict("=f4", "(2,)"), eight) == "npy.unsupported_dtype");
  CHECK(id(dict("<c8", "(1,)"), eight) == "npy.unsupported_dtype");
  CHECK(id(dict("|S8", "(1,)"), eight) == "npy.unsupported_dtype");
  CHECK(id(dict("|O", "(1,)"), eight) == "npy.unsupported_dtype");
  CHECK(id(dict("float32", "(2,)"), eight) == "npy.unsupported_dtype");
  CHECK(id("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", eight) == "npy.unsupported_dtype");
  CHECK(id(dict("<f4", "(2,)", true), eight) == "npy.fortran_order");
  // single-byte types have no byte order: every spelling reads
  CHECK(id(dict("|u1", "(8,)"), eight) == "no error");
  CHECK(id(dict("<i1", "(8,)"), eight) == "no error");
  CHECK(id(dict(">b1", "(8,)"), eight) == "no error");
  CHECK(id(dict("<u2", "(4,)"), eight) == "no error");

  CHECK(id(dict("<f4", "(99999999999999999999,)"), eight) == "npy.shape_overflow");
  CHECK(id(dict("<f4", "(4294967296, 4294967296)"), eight) == "npy.shape_overflow");
  CHECK(id(dict("<f8", "(9223372036854775807,)"), eight) == "npy.shape_overflow");
  CHECK(id(dict("<f4", "(3037000500, 3037000500, 0)"), "") == "no error");  // zero elements, no overflow
  CHECK(id(dict("<f4", "(3,)"), eight) == "npy.truncated");
  CHECK(id(dict("<f4", "(1,)"), eight) == "npy.size_mismatch");
  CHECK(id(dict("<f4", "()"), eight) == "npy.size_mismatch");
  CHECK(id(dict("<f4", "(0,)"), eight) == "npy.size_mismatch");

  // the context names the source and the offset
  const auto extra = make_npy(dict("<f4", "(1,)"), eight);
  try {
    (void)bigmodel::io::parse_npy(extra, "my/file.npy");
    FAIL("no error");
  } catch (const bigmodel::error& e) {
    CHECK(e.context() == "my/file.npy, offset " + std::to_string(extra.size() - 4));
  }
  CHECK(id(dict("<f4", "(1099511627776, 1099511627776, 0)"), "") == "no error");
}

TEST_CASE("npy: missing files are io errors", "[io][npy]") {
  CHECK_THROWS_AS(bigmodel::io::read_npy(fixtures() / "npy" / "does_not_exist.npy"), bigmodel::error);
}
