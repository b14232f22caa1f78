#pragma once
// qtensor<Q, Extents, Granularity>: quantized values (int8, uint8, or int4 packed two per byte as s4x2)
// with their scales and zero points. The granularity is part of the type -- per_tensor, per_channel<Axis>,
// per_group<Axis, G> -- so code written for one scheme cannot silently receive another.
//
// Parameter layout: per_tensor has one; per_channel<A> has extent(A); per_group<A, G> has one per group
// of G consecutive elements along A for every position of the other axes, in row-major order of the
// extents with extent(A) replaced by extent(A) / G (for a weight [N, K] grouped along K: [N, K / G]).

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/aligned_buffer.hpp"
#include "../core/quant.hpp"
#include "tensor.hpp"

namespace bigmodel {

namespace detail {
template <class Granularity>
constexpr bool axis_in_range(std::size_t rank) {
  if constexpr (requires { Granularity::axis; })
    return Granularity::axis < rank;
  else
    return true;
}
}  // namespace detail

template <quantized_type Q, extents_type Extents, granularity Granularity>
class qtensor {
 public:
  static constexpr std::size_t rank_ = Extents::rank();
  static_assert(detail::axis_in_range<Granularity>(Extents::rank()),
                "the quantization axis must be one of the tensor's dimensions");

  using value_type = Q;
  using extents_type = Extents;
  using granularity_type = Granularity;
  static constexpr bool packed = std::is_same_v<Q, s4x2>;

  qtensor() = default;
  // Zero-filled values with parameters sized for the extents (checked: a group size must divide the axis).
  explicit qtensor(const Extents& e) : ext_(e), values_(packed ? (e.size() + 1) / 2 : e.size()) {
    if constexpr (is_group) {
      if (e.extent(Granularity::axis) % Granularity::group_size != 0)
        throw error("quant.group_size", "group size " + std::to_string(Granularity::group_size) +
                                            " does not divide dimension " + std::to_string(Granularity::axis) +
                                            " of size " + std::to_string(e.extent(Granularity::axis)));
    }
    params_.resize(param_count(e));
  }

  static constexpr std::size_t rank() noexcept { return rank_; }
  [[nodiscard]] const Extents& extents() const noexcept { return ext_; }
  [[nodiscard]] std::size_t extent(std::size_t r) const noexcept { return ext_.extent(r); }
  [[nodiscard]] std::size_t size() const noexcept { return ext_.size(); }
  // Raw storage: size() bytes, or (size() + 1) / 2 for int4 (element 2i in the low nibble).
  [[nodiscard]] Q* data() noexcept { return values_.data(); }
  [[nodiscard]] const Q* data() const noexcept { return values_.data(); }
  [[nodiscard]] std::size_t storage_bytes() const noexcept { return values_.size() * sizeof(Q); }

  [[nodiscard]] std::vector<quant_param>& params() noexcept { return params_; }
  [[nodiscard]] const std::vector<quant_param>& params() const noexcept { return params_; }

  // The integer value and parameter at a multi-index.
  template <class... I>
    requires(sizeof...(I) == rank_)
  [[nodiscard]] std::int32_t value(I... idx) const noexcept {
    return get_flat(flat({static_cast<std::size_t>(idx)...}));
  }
  template <class... I>
    requires(sizeof...(I) == rank_)
  void set_value(std::int32_t q, I... idx) noexcept {
    set_flat(flat({static_cast<std::size_t>(idx)...}), q);
  }
  template <class... I>
    requires(sizeof...(I) == rank_)
  [[nodiscard]] const quant_param& param(I... idx) const noexcept {
    return params_[param_index({static_cast<std::size_t>(idx)...})];
  }

  [[nodiscard]] std::int32_t get_flat(std::size_t i) const noexcept {
    BIGMODEL_ASSERT(i < size());
    if constexpr (packed) {
      const s4x2 b = values_[i / 2];
      return (i % 2) ? b.hi() : b.lo();
    } else {
      return static_cast<std::int32_t>(values_[i]);
    }
  }
  void set_flat(std::size_t i, std::int32_t q) noexcept {
    BIGMODEL_ASSERT(i < size() && q >= quant_limits<Q>::min && q <= quant_limits<Q>::max);
    if constexpr (packed) {
      s4x2& b = values_[i / 2];
      b = (i % 2) ? s4x2::pack(b.lo(), q) : s4x2::pack(q, b.hi());
    } else {
      values_[i] = static_cast<Q>(q);
    }
  }

  // Index into params() for a multi-index.
  [[nodiscard]] std::size_t param_index(const std::array<std::size_t, rank_>& idx) const noexcept {
    if constexpr (std::is_same_v<Granularity, per_tensor>) {
      return 0;
    } else if constexpr (!is_group) {
      return idx[Granularity::axis];
    } else {
      std::size_t p = 0;
      for (std::size_t r = 0; r < rank_; ++r) {
        const std::size_t n = r == Granularity::axis ? ext_.extent(r) / Granularity::group_size : ext_.extent(r);
        const std::size_t i = r == Granularity::axis ? idx[r] / Granularity::group_size : idx[r];
        p = p * n + i;
      }
      return p;
    }
  }

  [[nodiscard]] static std::size_t param_count(const Extents& e) noexcept {
    if constexpr (std::is_same_v<Granularity, per_tensor>) {
      return 1;
    } else if constexpr (!is_group) {
      return e.extent(Granularity::axis);
    } else {
      return e.size() / Granularity::group_size;
    }
  }

  [[nodiscard]] std::size_t flat(const std::array<std::size_t, rank_>& idx) const noexcept {
    std::size_t off = 0;
    for (std::size_t r = 0; r < rank_; ++r) {
      BIGMODEL_ASSERT(idx[r] < ext_.extent(r));
      off = off * ext_.extent(r) + idx[r];
    }
    return off;
  }

 private:
  static constexpr bool is_group = requires { Granularity::group_size; };

  [[no_unique_address]] Extents ext_{};
  aligned_buffer<Q> values_;
  std::vector<quant_param> params_;
};

namespace detail {
// Calls f(flat_index, multi_index) for every element in row-major order.
template <std::size_t R, class Extents, class F>
void for_each_row_major(const Extents& e, F&& f) {
  std::array<std::size_t, R> idx{};
  const std::size_t n = e.size();
  for (std::size_t i = 0; i < n; ++i) {
    f(i, idx);
    for (std::size_t r = R; r-- > 0;) {
      if (++idx[r] < e.extent(r)) break;
      idx[r] = 0;
    }
  }
}
template <class View, std::size_t R>
float load(const View& v, const std::array<std::size_t, R>& idx) {
  return static_cast<float>(std::apply([&](auto... i) { return v(i...); }, idx));
}
}  // namespace detail

struct quantize_options {
  symmetry sym = symmetry::symmetric;
  std::string_view name = {};  // names the tensor in error messages
};

// Quantizes x, choosing each parameter from the min/max of the elements it covers.
// Throws bigmodel::error for NaN/Inf input or a group size that does not divide the axis.
template <quantized_type Q, granularity Granularity, class T, class Extents, class Layout>
[[nodiscard]] qtensor<Q, Extents, Granularity> quantize(const tensor_view<T, Extents, Layout>& x,
                                                        quantize_options opt = {}) {
  constexpr std::size_t R = Extents::rank();
  qtensor<Q, Extents, Granularity> q(x.extents());
  auto& params = q.params();
  std::vector<float> lo(params.size(), std::numeric_limits<float>::infinity());
  std::vector<float> hi(params.size(), -std::numeric_limits<float>::infinity());
  detail::for_each_row_major<R>(x.extents(), [&](std::size_t, const std::array<std::size_t, R>& idx) {
    const float v = detail::load(x, idx);
    if (!std::isfinite(v))
      throw error("quant.non_finite", "cannot quantize a tensor holding NaN or infinity", std::string(opt.name));
    const std::size_t p = q.param_index(idx);
    lo[p] = std::min(lo[p], v);
    hi[p] = std::max(hi[p], v);
  });
  for (std::size_t p = 0; p < params.size(); ++p)
    params[p] = lo[p] > hi[p] ? quant_param{} : choose_quant_param<Q>(lo[p], hi[p], opt.sym, opt.name);
  detail::for_each_row_major<R>(x.extents(), [&](std::size_t i, const std::array<std::size_t, R>& idx) {
    q.set_flat(i, quantize_value<Q>(detail::load(x, idx), params[q.param_index(idx)]));
  });
  return q;
}

// Float values back: (q - zero_point) * scale, row-major.
template <quantized_type Q, class Extents, class Granularity>
[[nodiscard]] tensor<float, Extents> dequantize(const qtensor<Q, Extents, Granularity>& q) {
  constexpr std::size_t R = Extents::rank();
  tensor<float, Extents> out(q.extents());
  float* dst = out.data();
  detail::for_each_row_major<R>(q.extents(), [&](std::size_t i, const std::array<std::size_t, R>& idx) {
    dst[i] = dequantize_value(q.get_flat(i), q.params()[q.param_index(idx)]);
  });
  return out;
}

}  // namespace bigmodel
