#pragma once
// Zero-copy bridges to Eigen: as_eigen(view) is an Eigen::Map over the same memory with the view's
// strides; as_view(x) views any direct-access Eigen object (Matrix, Map, Block, Ref) as a tensor_view.

#include <type_traits>

// Eigen must be on a SYSTEM include path (the bigmodel CMake target does that): it warns under -Wextra.
#include <Eigen/Core>

#include "tensor_view.hpp"

namespace bigmodel {

template <class T, class Extents, class Layout>
  requires(Extents::rank() == 2)
[[nodiscard]] auto as_eigen(const tensor_view<T, Extents, Layout>& v) noexcept {
  using scalar = std::remove_const_t<T>;
  // Row-major map with both strides free: works for every layout, Eigen vectorizes when inner stride is 1
  // at run time only through its generic path, so prefer a plain view where speed matters.
  using matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const matrix, matrix>, Eigen::Unaligned,
                         Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  return map(v.data(), static_cast<Eigen::Index>(v.extent(0)), static_cast<Eigen::Index>(v.extent(1)),
             Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(static_cast<Eigen::Index>(v.stride(0)),
                                                           static_cast<Eigen::Index>(v.stride(1))));
}

template <class T, class Extents, class Layout>
  requires(Extents::rank() == 1)
[[nodiscard]] auto as_eigen(const tensor_view<T, Extents, Layout>& v) noexcept {
  using scalar = std::remove_const_t<T>;
  using vector = Eigen::Matrix<scalar, Eigen::Dynamic, 1>;
  using map = Eigen::Map<std::conditional_t<std::is_const_v<T>, const vector, vector>, Eigen::Unaligned,
                         Eigen::InnerStride<Eigen::Dynamic>>;
  return map(v.data(), static_cast<Eigen::Index>(v.extent(0)),
             Eigen::InnerStride<Eigen::Dynamic>(static_cast<Eigen::Index>(v.stride(0))));
}

namespace detail {
template <class X>
concept eigen_direct_access = requires(X& x) {
  x.data();
  x.rows();
  x.cols();
  x.innerStride();
  x.outerStride();
} && (int(std::remove_cvref_t<X>::Flags) & Eigen::DirectAccessBit) != 0;
}  // namespace detail

// View of a direct-access Eigen matrix expression: rank 2 (rows x cols), element type const if x is const.
template <class X>
  requires detail::eigen_direct_access<X>
[[nodiscard]] auto as_view(X& x) noexcept {
  using raw = std::remove_cvref_t<X>;
  using elem = std::remove_pointer_t<decltype(x.data())>;
  using map = layout_stride::mapping<dextents<2>>;
  const auto inner = static_cast<std::size_t>(x.innerStride());
  const auto outer = static_cast<std::size_t>(x.outerStride());
  const bool row_major = (int(raw::Flags) & Eigen::RowMajorBit) != 0;
  const std::array<std::size_t, 2> strides = row_major ? std::array<std::size_t, 2>{outer, inner}
                                                       : std::array<std::size_t, 2>{inner, outer};
  return tensor_view<elem, dextents<2>, layout_stride>(
      x.data(), map(dextents<2>(static_cast<std::size_t>(x.rows()), static_cast<std::size_t>(x.cols())), strides));
}

}  // namespace bigmodel
