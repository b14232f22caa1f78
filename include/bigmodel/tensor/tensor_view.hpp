#pragma once
// tensor_view<T, Extents, Layout>: a non-owning typed view (pointer + layout mapping), like std::mdspan.
// Use `const T` for read-only views. Rank is part of the type: indexing with the wrong number of indices
// does not compile.

#include <cstddef>
#include <type_traits>
#include <utility>

#include "../core/config.hpp"
#include "extents.hpp"
#include "layout.hpp"

namespace bigmodel {

template <class T, extents_type Extents, class Layout = layout_right>
class tensor_view {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using extents_type = Extents;
  using layout_type = Layout;
  using mapping_type = typename Layout::template mapping<Extents>;
  using index_type = std::size_t;
  using pointer = T*;
  using reference = T&;

  constexpr tensor_view() noexcept = default;
  constexpr tensor_view(T* data, const Extents& e) noexcept
    requires(!std::is_same_v<Layout, layout_stride>)
      : data_(data), map_(e) {}
  constexpr tensor_view(T* data, const mapping_type& m) noexcept : data_(data), map_(m) {}
  // Dynamic sizes straight after the pointer: tensor_view<float, dextents<2>>(p, rows, cols).
  template <class... I>
    requires(sizeof...(I) == Extents::rank_dynamic() && sizeof...(I) > 0 &&
             (std::is_convertible_v<I, index_type> && ...) && !std::is_same_v<Layout, layout_stride>)
  constexpr tensor_view(T* data, I... sizes) noexcept : data_(data), map_(Extents(sizes...)) {}

  // A view of mutable elements converts to a read-only view, and any layout to a strided one.
  template <class U, class OtherLayout>
    requires(std::is_convertible_v<U (*)[], T (*)[]> &&
             (std::is_same_v<OtherLayout, Layout> || std::is_same_v<Layout, layout_stride>) &&
             !(std::is_same_v<U, T> && std::is_same_v<OtherLayout, Layout>))
  constexpr explicit(false) tensor_view(const tensor_view<U, Extents, OtherLayout>& o) noexcept
      : data_(o.data()), map_(o.mapping()) {}

  static constexpr std::size_t rank() noexcept { return Extents::rank(); }
  [[nodiscard]] constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] constexpr const mapping_type& mapping() const noexcept { return map_; }
  [[nodiscard]] constexpr const Extents& extents() const noexcept { return map_.extents(); }
  [[nodiscard]] constexpr index_type extent(std::size_t r) const noexcept { return map_.extents().extent(r); }
  [[nodiscard]] constexpr index_type stride(std::size_t r) const noexcept { return map_.stride(r); }
  [[nodiscard]] constexpr index_type size() const noexcept { return map_.extents().size(); }
  [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] constexpr bool is_contiguous() const noexcept { return map_.is_contiguous(); }

  template <class... I>
    requires(sizeof...(I) == Extents::rank() && (std::is_convertible_v<I, index_type> && ...))
  constexpr T& operator()(I... idx) const noexcept {
    BIGMODEL_ASSERT(in_bounds(static_cast<index_type>(idx)...));
    return data_[map_(static_cast<index_type>(idx)...)];
  }

 private:
  template <class... I>
  constexpr bool in_bounds(I... idx) const noexcept {
    std::size_t r = 0;
    return ((idx < extent(r++)) && ...);
  }

  T* data_ = nullptr;
  [[no_unique_address]] mapping_type map_{};
};

// Deduce a rank-2 strided view from raw buffers: rows x cols with a leading dimension (row-major:
// element (i, j) at data[i * ld + j]), the way engines and BLAS pass matrices.
template <class T>
[[nodiscard]] constexpr tensor_view<T, dextents<2>, layout_stride> matrix_view(T* data, std::size_t rows,
                                                                              std::size_t cols,
                                                                              std::size_t ld) noexcept {
  BIGMODEL_ASSERT(ld >= cols || rows <= 1);
  using map = layout_stride::mapping<dextents<2>>;
  return {data, map(dextents<2>(rows, cols), {ld, 1})};
}

// Column-major variant: element (i, j) at data[j * ld + i].
template <class T>
[[nodiscard]] constexpr tensor_view<T, dextents<2>, layout_stride> matrix_view_col_major(
    T* data, std::size_t rows, std::size_t cols, std::size_t ld) noexcept {
  BIGMODEL_ASSERT(ld >= rows || cols <= 1);
  using map = layout_stride::mapping<dextents<2>>;
  return {data, map(dextents<2>(rows, cols), {1, ld})};
}

namespace detail {
template <std::size_t R, class = std::make_index_sequence<R>>
struct slice_helper;
template <std::size_t R, std::size_t... I>
struct slice_helper<R, std::index_sequence<I...>> {
  template <class View>
  static constexpr std::size_t offset(const View& v, std::size_t dim, std::size_t begin) {
    return v.mapping()(((I == dim) ? begin : std::size_t{0})...);
  }
};
}  // namespace detail

// The sub-view [begin, end) along one dimension, as a strided view with dynamic extents (a row block,
// a column range, a channel range...).
template <class T, class Extents, class Layout>
[[nodiscard]] constexpr tensor_view<T, dextents<Extents::rank()>, layout_stride> subview(
    const tensor_view<T, Extents, Layout>& v, std::size_t dim, std::size_t begin, std::size_t end) noexcept {
  constexpr std::size_t R = Extents::rank();
  BIGMODEL_ASSERT(dim < R && begin <= end && end <= v.extent(dim));
  std::array<std::size_t, R> sizes{};
  std::array<std::size_t, R> strides{};
  for (std::size_t r = 0; r < R; ++r) {
    sizes[r] = r == dim ? end - begin : v.extent(r);
    strides[r] = v.stride(r);
  }
  const std::size_t off = begin == end ? 0 : detail::slice_helper<R>::offset(v, dim, begin);
  using map = layout_stride::mapping<dextents<R>>;
  return {v.data() + off, map(dextents<R>(sizes), strides)};
}

// Row i of a rank-2 view, as a rank-1 strided view.
template <class T, class Extents, class Layout>
  requires(Extents::rank() == 2)
[[nodiscard]] constexpr tensor_view<T, dextents<1>, layout_stride> row(const tensor_view<T, Extents, Layout>& v,
                                                                       std::size_t i) noexcept {
  BIGMODEL_ASSERT(i < v.extent(0));
  using map = layout_stride::mapping<dextents<1>>;
  return {v.data() + v.mapping()(i, std::size_t{0}), map(dextents<1>(v.extent(1)), {v.stride(1)})};
}

// Column j of a rank-2 view.
template <class T, class Extents, class Layout>
  requires(Extents::rank() == 2)
[[nodiscard]] constexpr tensor_view<T, dextents<1>, layout_stride> col(const tensor_view<T, Extents, Layout>& v,
                                                                       std::size_t j) noexcept {
  BIGMODEL_ASSERT(j < v.extent(1));
  using map = layout_stride::mapping<dextents<1>>;
  return {v.data() + v.mapping()(std::size_t{0}, j), map(dextents<1>(v.extent(0)), {v.stride(0)})};
}

template <class T>
struct is_tensor_view : std::false_type {};
template <class T, class E, class L>
struct is_tensor_view<tensor_view<T, E, L>> : std::true_type {};

}  // namespace bigmodel
