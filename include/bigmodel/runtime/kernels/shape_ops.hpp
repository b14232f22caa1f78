#pragma once
// Data movement and shape ops: views where possible (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
// Dropout alias their input), copies otherwise. All work on any element type by bytes.

#include <cmath>
#include <cstring>

#include "../kernel_context.hpp"

namespace bigmodel::runtime::kernels {

[[nodiscard]] inline std::size_t elem_bytes(const dynamic_tensor& t, const kernel_context& c) {
  const auto b = bit_size(t.type());
  if (b % 8 != 0 || b == 0) c.fail("runtime.unsupported_dtype", "element type " + std::string(name(t.type())) + " not supported here");
  return b / 8;
}

inline void run(const ops::identity&, kernel_context& c) { c.alias(0, c.in(0)); }
inline void run(const ops::dropout&, kernel_context& c) {
  c.alias(0, c.in(0));
  if (c.output_count() > 1) {
    auto m = c.out(1, dtype::boolean, c.in(0).shape()).mutable_span<bool>();
    std::fill(m.begin(), m.end(), true);
  }
}
inline void run(const ops::constant& op, kernel_context& c) { c.alias(0, op.value); }

inline void run(const ops::reshape& op, kernel_context& c) {
  const auto& x = c.in(0);
  auto target = c.in(1).to_ints();
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !op.allowzero) {
      c.check(i < x.rank(), "Reshape: 0 copies a dimension the input does not have");
      target[i] = x.dim(i);
    }
    if (target[i] == -1) {
      c.check(infer < 0, "Reshape: more than one -1");
      infer = static_cast<int>(i);
    } else {
      c.check(target[i] >= 0, "Reshape: negative dimension");
      known *= target[i];
    }
  }
  if (infer >= 0) {
    c.check(known > 0 && x.numel() % known == 0, "Reshape: cannot infer -1 for " + to_string(x.shape()) + " -> " + to_string(c.in(1).to_ints()));
    target[static_cast<std::size_t>(infer)] = x.numel() / known;
  }
  if (element_count(target) != x.numel())
    c.fail("runtime.shape_mismatch", "Reshape changes the element count: " + to_string(x.shape()) + " -> " + to_string(target));
  c.alias(0, x.reshaped(target));
}

inline void run(const ops::flatten& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto axis = op.axis < 0 ? op.axis + static_cast<std::int64_t>(x.rank()) : op.axis;
  c.check(axis >= 0 && axis <= static_cast<std::int64_t>(x.rank()), "Flatten axis out of range");
  std::int64_t a = 1, b = 1;
  for (std::size_t d = 0; d < x.rank(); ++d) (static_cast<std::int64_t>(d) < axis ? a : b) *= x.dim(d);
  c.alias(0, x.reshaped({a, b}));
}

[[nodiscard]] inline std::vector<std::int64_t> axes_of(const std::optional<ops::ints>& attr, kernel_context& c, std::size_t slot) {
  if (attr) return *attr;
  if (c.has(slot)) return c.in(slot).to_ints();
  return {};
}

inline void run(const ops::unsqueeze& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto axes = axes_of(op.axes, c, 1);
  const std::size_t r = x.rank() + axes.size();
  std::vector<bool> is_new(r, false);
  for (auto a : axes) {
    const auto i = static_cast<std::size_t>(c.axis(a, r));
    c.check(!is_new[i], "Unsqueeze: repeated axis");
    is_new[i] = true;
  }
  shape_t s;
  std::size_t k = 0;
  for (std::size_t i = 0; i < r; ++i) s.push_back(is_new[i] ? 1 : x.dim(k++));
  c.alias(0, x.reshaped(s));
}

inline void run(const ops::squeeze& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto axes = axes_of(op.axes, c, 1);
  std::vector<bool> drop(x.rank(), false);
  for (auto a : axes) {
    const auto i = static_cast<std::size_t>(c.axis(a, x.rank()));
    c.check(x.dim(i) == 1, "Squeeze of a dimension that is not 1 (" + to_string(x.shape()) + ")");
    drop[i] = true;
  }
  shape_t s;
  for (std::size_t i = 0; i < x.rank(); ++i)
    if (!(axes.empty() ? x.dim(i) == 1 : drop[i])) s.push_back(x.dim(i));
  c.alias(0, x.reshaped(s));
}

inline void run(const ops::shape& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto r = static_cast<std::int64_t>(x.rank());
  auto clampi = [&](std::int64_t v) { return std::clamp(v < 0 ? v + r : v, std::int64_t{0}, r); };
  const auto b = clampi(op.start), e = clampi(op.end.value_or(r));
  const auto n = std::max<std::int64_t>(e - b, 0);
  auto y = c.out(0, dtype::s64, {n}).mutable_span<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) y[static_cast<std::size_t>(i)] = x.dim(static_cast<std::size_t>(b + i));
}

// Copies a permuted tensor: out[idx] = in[perm applied].
inline void run(const ops::transpose& op, kernel_context& c) {
  const auto& x = c.in(0);
  const std::size_t r = x.rank();
  ops::ints perm = op.perm.value_or(ops::ints{});
  if (!op.perm)
    for (std::size_t i = r; i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
  c.check(perm.size() == r, "Transpose perm does not match the rank");
  shape_t os(r);
  const auto st = strides_of(x.shape());
  std::vector<std::int64_t> src_st(r);
  for (std::size_t i = 0; i < r; ++i) {
    const auto p = static_cast<std::size_t>(c.axis(perm[i], r));
    os[i] = x.dim(p);
    src_st[i] = st[p];
  }
  auto& y = c.out(0, x.type(), os);
  const std::size_t es = elem_bytes(x, c);
  const std::byte* src = x.data();
  std::byte* dst = y.mutable_data();
  std::int64_t i = 0;
  std::array<std::vector<std::int64_t>, 1> s{src_st};
  if (es == 4) {
    auto* d4 = reinterpret_cast<std::uint32_t*>(dst);
    const auto* s4 = reinterpret_cast<const std::uint32_t*>(src);
    for_each_broadcast<1>(os, s, [&](const std::array<std::int64_t, 1>& o) { d4[i++] = s4[o[0]]; });
  } else {
    for_each_broadcast<1>(os, s, [&](const std::array<std::int64_t, 1>& o) {
      std::memcpy(dst + static_cast<std::size_t>(i++) * es, src + static_cast<std::size_t>(o[0]) * es, es);
    });
  }
}

inline void run(const ops::expand&, kernel_context& c) {
  const auto& x = c.in(0);
  const shape_t target = c.in(1).to_ints();
  const shape_t os = broadcast_shapes({&x.shape(), &target}, c);
  auto& y = c.out(0, x.type(), os);
  const std::size_t es = elem_bytes(x, c);
  std::array<std::vector<std::int64_t>, 1> s{broadcast_strides(x.shape(), os)};
  std::int64_t i = 0;
  const std::byte* src = x.data();
  std::byte* dst = y.mutable_data();
  for_each_broadcast<1>(os, s, [&](const std::array<std::int64_t, 1>& o) {
    std::memcpy(dst + static_cast<std::size_t>(i++) * es, src + static_cast<std::size_t>(o[0]) * es, es);
  });
}

inline void run(const ops::gather& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto& idx = c.in(1);
  c.check(idx.type() == dtype::s64 || idx.type() == dtype::s32, "Gather indices must be s32 or s64");
  const auto axis = static_cast<std::size_t>(c.axis(op.axis, x.rank()));
  shape_t os(x.shape().begin(), x.shape().begin() + static_cast<std::ptrdiff_t>(axis));
  for (auto d : idx.shape()) os.push_back(d);
  for (std::size_t d = axis + 1; d < x.rank(); ++d) os.push_back(x.dim(d));
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (std::size_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const std::int64_t len = x.dim(axis), n_idx = idx.numel();
  auto& y = c.out(0, x.type(), os);
  const std::size_t es = elem_bytes(x, c), chunk = static_cast<std::size_t>(inner) * es;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < n_idx; ++j) {
      std::int64_t k = idx.as_int(j);
      if (k < 0) k += len;
      if (k < 0 || k >= len) c.fail("runtime.bad_index", "Gather index " + std::to_string(idx.as_int(j)) + " out of range [0, " + std::to_string(len) + ")");
      std::memcpy(y.mutable_data() + static_cast<std::size_t>(o * n_idx + j) * chunk,
                  x.data() + static_cast<std::size_t>(o * len + k) * chunk, chunk);
    }
}

inline void run(const ops::concat& op, kernel_context& c) {
  const auto& first = c.in(0);
  const auto axis = static_cast<std::size_t>(c.axis(op.axis, first.rank()));
  shape_t os = first.shape();
  os[axis] = 0;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& t = c.in(i);
    c.check(t.type() == first.type() && t.rank() == first.rank(), "Concat inputs differ in type or rank");
    for (std::size_t d = 0; d < t.rank(); ++d)
      if (d != axis && t.dim(d) != first.dim(d))
        c.fail("runtime.shape_mismatch", "Concat inputs " + to_string(first.shape()) + " and " + to_string(t.shape()) + " differ off the axis");
    os[axis] += t.dim(axis);
  }
  auto& y = c.out(0, first.type(), os);
  const std::size_t es = elem_bytes(first, c);
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= os[d];
  for (std::size_t d = axis + 1; d < os.size(); ++d) inner *= os[d];
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& t = c.in(i);
    const std::size_t chunk = static_cast<std::size_t>(t.dim(axis) * inner) * es;
    for (std::int64_t o = 0; o < outer; ++o)
      std::memcpy(y.mutable_data() + (static_cast<std::size_t>(o * os[axis] * inner) + static_cast<std::size_t>(offset * inner)) * es,
                  t.data() + static_cast<std::size_t>(o) * chunk, chunk);
    offset += t.dim(axis);
  }
}

inline void run(const ops::split& op, kernel_context& c) {
  const auto& x = c.in(0);
  const auto axis = static_cast<std::size_t>(c.axis(op.axis, x.rank()));
  const std::size_t n = c.output_count();
  std::vector<std::int64_t> sizes = axes_of(op.split_sizes, c, 1);
  if (sizes.empty()) {
    const std::int64_t each = (x.dim(axis) + static_cast<std::int64_t>(n) - 1) / static_cast<std::int64_t>(n);
    for (std::size_t i = 0; i < n; ++i) sizes.push_back(std::min(each, x.dim(axis) - each * static_cast<std::int64_t>(i)));
  }
  c.check(sizes.size() == n, "Split sizes do not match the number of outputs");
  std::int64_t total = 0;
  for (auto s : sizes) total += s;
  c.check(total == x.dim(axis), "Split sizes do not add up to the axis length");
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (std::size_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const std::size_t es = elem_bytes(x, c);
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < n; ++i) {
    shape_t os = x.shape();
    os[axis] = sizes[i];
    auto& y = c.out(i, x.type(), os);
    const std::size_t chunk = static_cast<std::size_t>(sizes[i] * inner) * es;
    for (std::int64_t o = 0; o < outer; ++o)
      std::memcpy(y.mutable_data() + static_cast<std::size_t>(o) * chunk,
                  x.data() + (static_cast<std::size_t>(o * x.dim(axis) * inner) + static_cast<std::size_t>(offset * inner)) * es, chunk);
    offset += sizes[i];
  }
}

inline void run(const ops::slice&, kernel_context& c) {
  const auto& x = c.in(0);
  const auto starts = c.in(1).to_ints(), ends = c.in(2).to_ints();
  const auto axes = c.has(3) ? c.in(3).to_ints() : std::vector<std::int64_t>{};
  const auto steps = c.has(4) ? c.in(4).to_ints() : std::vector<std::int64_t>{};
  c.check(starts.size() == ends.size(), "Slice starts and ends differ in length");
  const std::size_t r = x.rank();
  std::vector<std::int64_t> begin(r, 0), step(r, 1);
  shape_t os = x.shape();
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const auto a = static_cast<std::size_t>(c.axis(axes.empty() ? static_cast<std::int64_t>(i) : axes[i], r));
    const std::int64_t s = steps.empty() ? 1 : steps[i], d = x.dim(a);
    c.check(s != 0, "Slice step 0");
    auto clampi = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) { return std::clamp(v < 0 ? v + d : v, lo, hi); };
    std::int64_t b, e;
    if (s > 0) b = clampi(starts[i], 0, d), e = clampi(ends[i], 0, d);
    else b = clampi(starts[i], -1, d - 1), e = clampi(ends[i], -1, d - 1);
    begin[a] = b, step[a] = s;
    os[a] = std::max<std::int64_t>(s > 0 ? (e - b + s - 1) / s : (b - e - s - 1) / (-s), 0);
  }
  auto& y = c.out(0, x.type(), os);
  const auto st = strides_of(x.shape());
  std::int64_t base = 0;
  std::array<std::vector<std::int64_t>, 1> s{std::vector<std::int64_t>(r)};
  for (std::size_t d = 0; d < r; ++d) base += begin[d] * st[d], s[0][d] = st[d] * step[d];
  const std::size_t es = elem_bytes(x, c);
  std::byte* dst = y.mutable_data();
  for_each_broadcast_row<1>(os, s, [&](const std::array<std::int64_t, 1>& o, const std::array<std::int64_t, 1>& step, std::int64_t len) {
    const std::byte* src = x.data() + static_cast<std::size_t>(base + o[0]) * es;
    if (step[0] == 1) {  // a contiguous run of the input's last dimension
      std::memcpy(dst, src, static_cast<std::size_t>(len) * es);
    } else {
      for (std::int64_t j = 0; j < len; ++j) std::memcpy(dst + static_cast<std::size_t>(j) * es, src + static_cast<std::ptrdiff_t>(j * step[0]) * static_cast<std::ptrdiff_t>(es), es);
    }
    dst += static_cast<std::size_t>(len) * es;
  });
}

inline void run(const ops::constant_of_shape& op, kernel_context& c) {
  const shape_t s = c.in(0).to_ints();
  const dynamic_tensor fill = op.value ? *op.value : dynamic_tensor::scalar(0.0f);
  auto& y = c.out(0, fill.type(), s);
  const std::size_t es = elem_bytes(fill, c);
  for (std::int64_t i = 0; i < y.numel(); ++i) std::memcpy(y.mutable_data() + static_cast<std::size_t>(i) * es, fill.data(), es);
}

inline void run(const ops::range&, kernel_context& c) {
  const auto& t = c.in(0);
  const double start = t.as_double(0), limit = c.in(1).as_double(0), delta = c.in(2).as_double(0);
  c.check(delta != 0, "Range delta 0");
  const auto n = static_cast<std::int64_t>(std::max(std::ceil((limit - start) / delta), 0.0));
  auto& y = c.out(0, t.type(), {n});
  if (t.type() == dtype::s64) {
    auto p = y.mutable_span<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = t.as_int(0) + i * c.in(2).as_int(0);
  } else if (t.type() == dtype::f32) {
    auto p = y.mutable_span<float>();
    for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = static_cast<float>(start + static_cast<double>(i) * delta);
  } else {
    c.fail("runtime.unsupported_dtype", "Range of " + std::string(name(t.type())));
  }
}

}  // namespace bigmodel::runtime::kernels
