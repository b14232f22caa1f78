#pragma once
// tensor<T, Extents, Layout>: owns its elements in 64-byte aligned storage (zero-initialized).
// Static extents live in the type: tensor<float, extents<dyn, 4096>> stores one size.

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <type_traits>

#include "../core/aligned_buffer.hpp"
#include "tensor_view.hpp"

namespace bigmodel {

template <class T, extents_type Extents, class Layout = layout_right>
class tensor {
  static_assert(!std::is_const_v<T>, "a tensor owns mutable elements; use tensor_view<const T> for read-only");
  static_assert(!std::is_same_v<Layout, layout_stride>, "an owning tensor is contiguous: layout_right or layout_left");

 public:
  using element_type = T;
  using value_type = T;
  using extents_type = Extents;
  using layout_type = Layout;
  using mapping_type = typename Layout::template mapping<Extents>;
  using view_type = tensor_view<T, Extents, Layout>;
  using const_view_type = tensor_view<const T, Extents, Layout>;
  using index_type = std::size_t;

  tensor()
    requires(Extents::rank_dynamic() == 0)
      : map_(Extents{}), buf_(map_.required_span_size()) {}
  explicit tensor(const Extents& e) : map_(e), buf_(map_.required_span_size()) {}
  template <class... I>
    requires(sizeof...(I) == Extents::rank_dynamic() && sizeof...(I) > 0 &&
             (std::is_convertible_v<I, index_type> && ...))
  explicit tensor(I... sizes) : tensor(Extents(sizes...)) {}

  // Copy of any view with the same rank (a deep copy; the layout may differ).
  template <class U, class E2, class L2>
    requires(E2::rank() == Extents::rank() && std::is_convertible_v<U, T>)
  explicit tensor(const tensor_view<U, E2, L2>& v) : tensor(Extents(v.extents())) {
    copy_from(v);
  }

  static constexpr std::size_t rank() noexcept { return Extents::rank(); }
  [[nodiscard]] T* data() noexcept { return buf_.data(); }
  [[nodiscard]] const T* data() const noexcept { return buf_.data(); }
  [[nodiscard]] const Extents& extents() const noexcept { return map_.extents(); }
  [[nodiscard]] const mapping_type& mapping() const noexcept { return map_; }
  [[nodiscard]] index_type extent(std::size_t r) const noexcept { return map_.extents().extent(r); }
  [[nodiscard]] index_type stride(std::size_t r) const noexcept { return map_.stride(r); }
  [[nodiscard]] index_type size() const noexcept { return map_.extents().size(); }

  [[nodiscard]] view_type view() noexcept { return {data(), map_}; }
  [[nodiscard]] const_view_type view() const noexcept { return {data(), map_}; }
  operator view_type() noexcept { return view(); }             // NOLINT: implicit, like std::string -> string_view
  operator const_view_type() const noexcept { return view(); }  // NOLINT

  template <class... I>
    requires(sizeof...(I) == Extents::rank() && (std::is_convertible_v<I, index_type> && ...))
  T& operator()(I... idx) noexcept {
    return view()(idx...);
  }
  template <class... I>
    requires(sizeof...(I) == Extents::rank() && (std::is_convertible_v<I, index_type> && ...))
  const T& operator()(I... idx) const noexcept {
    return view()(idx...);
  }

  void fill(const T& value) noexcept { std::fill(data(), data() + size(), value); }

  // Elements in storage order.
  [[nodiscard]] T* begin() noexcept { return data(); }
  [[nodiscard]] T* end() noexcept { return data() + size(); }
  [[nodiscard]] const T* begin() const noexcept { return data(); }
  [[nodiscard]] const T* end() const noexcept { return data() + size(); }

 private:
  template <class V>
  void copy_from(const V& v) {
    for_each_index(extents(), [&](const auto& idx) { element(idx) = static_cast<T>(at(v, idx)); });
  }
  template <class V, std::size_t R>
  static decltype(auto) at(const V& v, const std::array<std::size_t, R>& idx) {
    return std::apply([&](auto... i) -> decltype(auto) { return v(i...); }, idx);
  }
  T& element(const std::array<std::size_t, Extents::rank()>& idx) {
    return std::apply([&](auto... i) -> T& { return (*this)(i...); }, idx);
  }
  template <class F>
  static void for_each_index(const Extents& e, F&& f) {
    std::array<std::size_t, Extents::rank()> idx{};
    if (e.size() == 0) return;
    for (;;) {
      f(idx);
      std::size_t r = Extents::rank();
      while (r-- > 0) {
        if (++idx[r] < e.extent(r)) break;
        idx[r] = 0;
        if (r == 0) return;
      }
      if constexpr (Extents::rank() == 0) return;
    }
  }

  mapping_type map_;
  aligned_buffer<T> buf_;
};

template <class T>
struct is_tensor : std::false_type {};
template <class T, class E, class L>
struct is_tensor<tensor<T, E, L>> : std::true_type {};

}  // namespace bigmodel
