#pragma once
// extents<E...>: a shape whose rank is static and whose extents are each static or dynamic (`dyn`).
// Only the dynamic ones take storage, so extents<64, 64> is an empty object. The vocabulary is
// std::mdspan's, so moving to C++23's <mdspan> is a rename.

#include <array>
#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

#include "../core/config.hpp"

namespace bigmodel {

inline constexpr std::size_t dyn = std::dynamic_extent;

template <std::size_t... E>
class extents {
 public:
  using index_type = std::size_t;
  using rank_type = std::size_t;

  static constexpr rank_type rank() noexcept { return sizeof...(E); }
  static constexpr rank_type rank_dynamic() noexcept { return ((E == dyn ? 1 : 0) + ... + 0); }
  static constexpr std::size_t static_extent(rank_type r) noexcept { return static_sizes_[r]; }

  constexpr extents() noexcept = default;

  // From the dynamic extents only (extents<dyn, 4, dyn>{rows, cols}) or from all of them, in which case
  // the static ones must agree (checked with BIGMODEL_ASSERT).
  template <class... I>
    requires((sizeof...(I) == rank_dynamic() || sizeof...(I) == rank()) && sizeof...(I) > 0 &&
             (std::is_convertible_v<I, index_type> && ...))
  constexpr explicit extents(I... sizes) noexcept {
    const std::array<index_type, sizeof...(I)> v{static_cast<index_type>(sizes)...};
    init(std::span<const index_type>(v));
  }

  template <std::size_t N>
    requires(N == rank_dynamic() || N == rank())
  constexpr explicit extents(const std::array<index_type, N>& v) noexcept {
    init(std::span<const index_type>(v));
  }

  // Converting from other extents of the same rank (e.g. static -> dynamic); static ones must agree.
  template <std::size_t... F>
    requires(sizeof...(F) == sizeof...(E) && ((E == dyn || F == dyn || E == F) && ...))
  constexpr explicit(((E != dyn && F == dyn) || ...)) extents(const extents<F...>& other) noexcept {
    std::array<index_type, rank()> v{};
    for (rank_type r = 0; r < rank(); ++r) v[r] = other.extent(r);
    init(std::span<const index_type>(v));
  }

  [[nodiscard]] constexpr index_type extent(rank_type r) const noexcept {
    BIGMODEL_ASSERT(r < rank());
    if (static_sizes_[r] != dyn) return static_sizes_[r];
    return dynamic_[dynamic_index_[r]];
  }

  // Number of elements.
  [[nodiscard]] constexpr index_type size() const noexcept {
    index_type n = 1;
    for (rank_type r = 0; r < rank(); ++r) n *= extent(r);
    return n;
  }

  template <std::size_t... F>
  friend constexpr bool operator==(const extents& a, const extents<F...>& b) noexcept {
    if constexpr (sizeof...(F) != sizeof...(E)) {
      return false;
    } else {
      for (rank_type r = 0; r < rank(); ++r)
        if (a.extent(r) != b.extent(r)) return false;
      return true;
    }
  }

 private:
  static constexpr std::array<std::size_t, sizeof...(E)> static_sizes_{E...};
  static constexpr std::array<std::size_t, sizeof...(E)> dynamic_index_ = [] {
    std::array<std::size_t, sizeof...(E)> idx{};
    std::size_t k = 0;
    for (std::size_t r = 0; r < sizeof...(E); ++r) idx[r] = static_sizes_[r] == dyn ? k++ : k;
    return idx;
  }();

  constexpr void init(std::span<const index_type> v) noexcept {
    if constexpr (rank_dynamic() == 0) {
      for (rank_type r = 0; r < v.size(); ++r) BIGMODEL_ASSERT(v[r] == static_sizes_[r]);
    } else if (v.size() == rank_dynamic() && v.size() != rank()) {
      for (rank_type i = 0; i < v.size(); ++i) dynamic_[i] = v[i];
    } else {
      for (rank_type r = 0; r < rank(); ++r) {
        if (static_sizes_[r] == dyn)
          dynamic_[dynamic_index_[r]] = v[r];
        else
          BIGMODEL_ASSERT(v[r] == static_sizes_[r]);
      }
    }
  }

  // std::array<T, 0> is not an empty class in every standard library: use a truly empty one.
  struct no_sizes {
    constexpr index_type operator[](std::size_t) const noexcept { return 0; }
  };
  [[no_unique_address]] std::conditional_t<rank_dynamic() == 0, no_sizes, std::array<index_type, rank_dynamic()>>
      dynamic_{};
};

namespace detail {
template <std::size_t R, class = std::make_index_sequence<R>>
struct dextents_impl;
template <std::size_t R, std::size_t... I>
struct dextents_impl<R, std::index_sequence<I...>> {
  using type = extents<((void)I, dyn)...>;
};
}  // namespace detail

// All-dynamic extents of rank R.
template <std::size_t R>
using dextents = typename detail::dextents_impl<R>::type;

template <class T>
struct is_extents : std::false_type {};
template <std::size_t... E>
struct is_extents<extents<E...>> : std::true_type {};
template <class T>
concept extents_type = is_extents<T>::value;

}  // namespace bigmodel
