// extents, layouts, tensor and tensor_view.
#include <bigmodel/tensor/tensor.hpp>

#include <catch2/catch.hpp>
#include <cstdint>
#include <type_traits>

using namespace bigmodel;

// Static extents cost no storage; dynamic ones one size_t each.
static_assert(std::is_empty_v<extents<4, 4>>);
static_assert(sizeof(extents<dyn, 4096>) == sizeof(std::size_t));
static_assert(sizeof(extents<dyn, 3, dyn>) == 2 * sizeof(std::size_t));
static_assert(extents<dyn, 3, dyn>::rank() == 3 && extents<dyn, 3, dyn>::rank_dynamic() == 2);
static_assert(extents<2, 3>().size() == 6);
static_assert(std::is_same_v<dextents<2>, extents<dyn, dyn>>);
// A fully static row-major view is a pointer and nothing else.
static_assert(sizeof(tensor_view<float, extents<8, 8>>) == sizeof(float*));
// Rank is static: indexing needs exactly rank indices (the compile-fail test checks the error itself).
static_assert(std::is_invocable_v<tensor_view<float, extents<2, 3>>, int, int>);
static_assert(!std::is_invocable_v<tensor_view<float, extents<2, 3>>, int>);
static_assert(!std::is_invocable_v<tensor_view<float, extents<2, 3>>, int, int, int>);
// Views convert to const and to strided, never the other way.
static_assert(std::is_convertible_v<tensor_view<float, dextents<2>>, tensor_view<const float, dextents<2>>>);
static_assert(std::is_convertible_v<tensor_view<float, dextents<2>>, tensor_view<float, dextents<2>, layout_stride>>);
static_assert(!std::is_convertible_v<tensor_view<const float, dextents<2>>, tensor_view<float, dextents<2>>>);
static_assert(!std::is_convertible_v<tensor_view<float, dextents<2>, layout_stride>, tensor_view<float, dextents<2>>>);

TEST_CASE("extents mix static and dynamic sizes", "[tensor]") {
  const extents<dyn, 4, dyn> a(3, 5);
  CHECK(a.extent(0) == 3);
  CHECK(a.extent(1) == 4);
  CHECK(a.extent(2) == 5);
  CHECK(a.size() == 60);
  const extents<dyn, 4, dyn> b(3, 4, 5);  // all sizes given: same thing
  CHECK(a == b);
  const dextents<3> c(a);
  CHECK(c == a);
  CHECK(extents<0, 7>().size() == 0);
}

TEST_CASE("layouts compute offsets and strides", "[tensor]") {
  const extents<2, 3, 4> e;
  const layout_right::mapping<extents<2, 3, 4>> r(e);
  const layout_left::mapping<extents<2, 3, 4>> l(e);
  CHECK(r(1, 2, 3) == 1 * 12 + 2 * 4 + 3);
  CHECK(r.stride(0) == 12);
  CHECK(r.stride(2) == 1);
  CHECK(l(1, 2, 3) == 1 + 2 * 2 + 3 * 6);
  CHECK(l.stride(0) == 1);
  CHECK(l.stride(2) == 6);
  const layout_stride::mapping<extents<2, 3, 4>> s(r);
  CHECK(s(1, 2, 3) == r(1, 2, 3));
  CHECK(s.is_contiguous());
  const layout_stride::mapping<dextents<2>> padded(dextents<2>(3, 5), {8, 1});
  CHECK(padded.required_span_size() == 2 * 8 + 5);
  CHECK_FALSE(padded.is_contiguous());
}

TEST_CASE("tensor owns aligned zeroed storage and indexes by layout", "[tensor]") {
  tensor<float, extents<dyn, 5>> t(3);
  CHECK(t.size() == 15);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (float x : t) CHECK(x == 0.0f);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 5; ++j) t(i, j) = static_cast<float>(10 * i + j);
  CHECK(t.data()[2 * 5 + 4] == 24.0f);

  tensor<float, dextents<2>, layout_left> cm(3, 5);
  cm(2, 4) = 1.0f;
  CHECK(cm.data()[4 * 3 + 2] == 1.0f);

  SECTION("deep copy from a view with another layout") {
    const tensor<float, dextents<2>, layout_left> copy(t.view());
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 5; ++j) CHECK(copy(i, j) == t(i, j));
    CHECK(copy.data() != t.data());
  }
  SECTION("copies are deep, moves steal") {
    auto copy = t;
    copy(0, 0) = -1.0f;
    CHECK(t(0, 0) == 0.0f);
    const float* p = copy.data();
    auto moved = std::move(copy);
    CHECK(moved.data() == p);
  }
}

TEST_CASE("views over raw buffers with a leading dimension", "[tensor]") {
  // A 3 x 4 matrix stored with ld = 7 inside a larger buffer, as engines hand them over.
  std::vector<int> buf(3 * 7, -1);
  auto m = matrix_view(buf.data(), 3, 4, 7);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 4; ++j) m(i, j) = static_cast<int>(10 * i + j);
  CHECK(buf[2 * 7 + 3] == 23);
  CHECK(buf[0 * 7 + 4] == -1);  // padding untouched
  CHECK(m.stride(0) == 7);
  CHECK(m.stride(1) == 1);

  auto cm = matrix_view_col_major(buf.data(), 4, 3, 7);  // the same memory read as column-major 4 x 3
  CHECK(cm(3, 2) == 23);

  SECTION("sub-views share memory") {
    auto cols = subview(m, 1, 1, 3);  // columns 1..2
    CHECK(cols.extent(0) == 3);
    CHECK(cols.extent(1) == 2);
    CHECK(cols(2, 1) == 22);
    CHECK(cols.data() == buf.data() + 1);
    auto rows = subview(m, 0, 1, 3);
    CHECK(rows(0, 0) == 10);
    CHECK(rows.data() == buf.data() + 7);
    auto r = row(m, 2);
    CHECK(r.extent(0) == 4);
    CHECK(r(3) == 23);
    auto c = col(m, 3);
    CHECK(c.extent(0) == 3);
    CHECK(c.stride(0) == 7);
    CHECK(c(1) == 13);
    auto empty = subview(m, 0, 3, 3);
    CHECK(empty.size() == 0);
  }
  SECTION("a slice of a slice composes strides") {
    tensor<float, extents<4, 6, 5>> t3;
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < 6; ++j)
        for (std::size_t k = 0; k < 5; ++k) t3(i, j, k) = static_cast<float>(100 * i + 10 * j + k);
    auto s = subview(subview(t3.view(), 1, 2, 5), 2, 1, 4);
    CHECK(s.extent(0) == 4);
    CHECK(s.extent(1) == 3);
    CHECK(s.extent(2) == 3);
    CHECK(s(3, 2, 2) == t3(3, 4, 3));
    CHECK(s.stride(0) == 30);
  }
}
