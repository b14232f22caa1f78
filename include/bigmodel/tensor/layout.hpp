#pragma once
// Layouts map a multi-index to an offset: layout_right (row-major, C), layout_left (column-major, Fortran)
// and layout_stride (any strides, in elements; what a raw pointer + leading dimension gives).

#include <array>
#include <cstddef>
#include <type_traits>

#include "extents.hpp"

namespace bigmodel {

struct layout_right {
  template <extents_type Extents>
  class mapping {
   public:
    using extents_type = Extents;
    using index_type = std::size_t;
    constexpr mapping() noexcept = default;
    constexpr explicit mapping(const Extents& e) noexcept : ext_(e) {}

    [[nodiscard]] constexpr const Extents& extents() const noexcept { return ext_; }
    [[nodiscard]] constexpr index_type stride(std::size_t r) const noexcept {
      index_type s = 1;
      for (std::size_t i = r + 1; i < Extents::rank(); ++i) s *= ext_.extent(i);
      return s;
    }
    template <class... I>
    [[nodiscard]] constexpr index_type operator()(I... idx) const noexcept {
      const std::array<index_type, sizeof...(I)> v{static_cast<index_type>(idx)...};
      index_type off = 0;
      for (std::size_t r = 0; r < sizeof...(I); ++r) off = off * ext_.extent(r) + v[r];
      return off;
    }
    [[nodiscard]] constexpr index_type required_span_size() const noexcept { return ext_.size(); }
    static constexpr bool is_always_contiguous() noexcept { return true; }
    [[nodiscard]] constexpr bool is_contiguous() const noexcept { return true; }

   private:
    [[no_unique_address]] Extents ext_{};
  };
};

struct layout_left {
  template <extents_type Extents>
  class mapping {
   public:
    using extents_type = Extents;
    using index_type = std::size_t;
    constexpr mapping() noexcept = default;
    constexpr explicit mapping(const Extents& e) noexcept : ext_(e) {}

    [[nodiscard]] constexpr const Extents& extents() const noexcept { return ext_; }
    [[nodiscard]] constexpr index_type stride(std::size_t r) const noexcept {
      index_type s = 1;
      for (std::size_t i = 0; i < r; ++i) s *= ext_.extent(i);
      return s;
    }
    template <class... I>
    [[nodiscard]] constexpr index_type operator()(I... idx) const noexcept {
      const std::array<index_type, sizeof...(I)> v{static_cast<index_type>(idx)...};
      index_type off = 0;
      for (std::size_t r = sizeof...(I); r-- > 0;) off = off * ext_.extent(r) + v[r];
      return off;
    }
    [[nodiscard]] constexpr index_type required_span_size() const noexcept { return ext_.size(); }
    static constexpr bool is_always_contiguous() noexcept { return true; }
    [[nodiscard]] constexpr bool is_contiguous() const noexcept { return true; }

   private:
    [[no_unique_address]] Extents ext_{};
  };
};

struct layout_stride {
  template <extents_type Extents>
  class mapping {
   public:
    using extents_type = Extents;
    using index_type = std::size_t;
    using strides_type = std::array<index_type, Extents::rank()>;
    constexpr mapping() noexcept = default;
    constexpr mapping(const Extents& e, const strides_type& s) noexcept : ext_(e), strides_(s) {}
    // Any other layout's mapping converts to a strided one.
    template <class Other>
      requires(!std::is_same_v<Other, mapping> && requires(const Other& o) { o.stride(0); o.extents(); })
    constexpr explicit(false) mapping(const Other& other) noexcept : ext_(other.extents()) {
      for (std::size_t r = 0; r < Extents::rank(); ++r) strides_[r] = other.stride(r);
    }

    [[nodiscard]] constexpr const Extents& extents() const noexcept { return ext_; }
    [[nodiscard]] constexpr index_type stride(std::size_t r) const noexcept { return strides_[r]; }
    [[nodiscard]] constexpr const strides_type& strides() const noexcept { return strides_; }
    template <class... I>
    [[nodiscard]] constexpr index_type operator()(I... idx) const noexcept {
      const std::array<index_type, sizeof...(I)> v{static_cast<index_type>(idx)...};
      index_type off = 0;
      for (std::size_t r = 0; r < sizeof...(I); ++r) off += v[r] * strides_[r];
      return off;
    }
    // One past the largest offset reached (0 for an empty tensor).
    [[nodiscard]] constexpr index_type required_span_size() const noexcept {
      index_type last = 0;
      for (std::size_t r = 0; r < Extents::rank(); ++r) {
        if (ext_.extent(r) == 0) return 0;
        last += (ext_.extent(r) - 1) * strides_[r];
      }
      return last + 1;
    }
    static constexpr bool is_always_contiguous() noexcept { return false; }
    [[nodiscard]] constexpr bool is_contiguous() const noexcept {
      return required_span_size() == ext_.size();
    }

   private:
    [[no_unique_address]] Extents ext_{};
    strides_type strides_{};
  };
};

}  // namespace bigmodel
