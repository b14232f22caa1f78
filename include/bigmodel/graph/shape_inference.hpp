#pragma once
// Shape and dtype inference for the supported ops, with symbolic dims ("batch" stays "batch" through
// elementwise ops, MatMul, Conv...). Inconsistent inputs raise graph.shape_mismatch / graph.dtype_mismatch
// naming the node; what cannot be inferred statically (a Reshape to a computed shape) stays unknown.

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "topology.hpp"

namespace bigmodel {

struct tensor_type {
  dtype type = dtype::undefined;
  std::optional<symbolic_shape> shape;
  const dynamic_tensor* constant = nullptr;  // the value, when the input is an initializer
};

namespace shape_detail {

struct ctx {
  std::vector<tensor_type> in;
  std::vector<tensor_type> out;
  std::string where;

  [[noreturn]] void fail_shape(const std::string& what) const {
    throw error("graph.shape_mismatch", what, where);
  }
  [[noreturn]] void fail_type(const std::string& what) const { throw error("graph.dtype_mismatch", what, where); }
  [[nodiscard]] bool has(std::size_t i) const { return i < in.size() && in[i].type != dtype::undefined; }
  [[nodiscard]] const std::optional<symbolic_shape>& sh(std::size_t i) const {
    static const std::optional<symbolic_shape> none;
    return i < in.size() ? in[i].shape : none;
  }
  [[nodiscard]] std::optional<std::vector<std::int64_t>> ints(std::size_t i) const {
    if (i >= in.size() || !in[i].constant) return std::nullopt;
    return in[i].constant->to_ints();
  }
  void same_type(std::size_t a, std::size_t b) const {
    if (has(a) && has(b) && in[a].type != in[b].type)
      fail_type("inputs " + std::to_string(a) + " and " + std::to_string(b) + " have different element types (" +
                std::string(name(in[a].type)) + " vs " + std::string(name(in[b].type)) + ")");
  }
  void set(std::size_t o, dtype t, std::optional<symbolic_shape> s) {
    if (o < out.size()) out[o] = {t, std::move(s), nullptr};
  }
};

inline std::int64_t norm_axis(std::int64_t axis, std::int64_t rank, const ctx& c) {
  if (axis < -rank || axis >= std::max<std::int64_t>(rank, 1)) c.fail_shape("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

inline dim broadcast_dim(const dim& a, const dim& b, const ctx& c) {
  if (a.known() && a.value == 1) return b;
  if (b.known() && b.value == 1) return a;
  if (a == b) return a;
  if (a.known() && b.known()) c.fail_shape("cannot broadcast " + to_string(a) + " with " + to_string(b));
  if (a.known()) return a;
  if (b.known()) return b;
  return dim{};
}

inline std::optional<symbolic_shape> broadcast(const std::vector<const std::optional<symbolic_shape>*>& shapes, const ctx& c) {
  std::size_t rank = 0;
  for (auto* s : shapes) {
    if (!*s) return std::nullopt;
    rank = std::max(rank, (*s)->size());
  }
  symbolic_shape out(rank, dim{1});
  for (auto* s : shapes) {
    const auto& v = **s;
    for (std::size_t i = 0; i < v.size(); ++i) out[rank - v.size() + i] = broadcast_dim(out[rank - v.size() + i], v[i], c);
  }
  return out;
}

inline void check_dims(const dim& a, const dim& b, const std::string& what, const ctx& c) {
  if (a.known() && b.known() && a.value != b.value) c.fail_shape(what + ": " + to_string(a) + " vs " + to_string(b));
}

inline std::int64_t pool_out(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t pb, std::int64_t pe,
                             std::int64_t d, bool ceil_mode) {
  const std::int64_t span = in + pb + pe - d * (k - 1) - 1;
  const std::int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // ceil_mode: a last window that would start in the end padding is dropped (ONNX, and the runtime's rule).
  return ceil_mode && o > 0 && (o - 1) * s >= in + pb ? o - 1 : o;
}

// Conv / pooling spatial output dims.
template <class Op>
symbolic_shape spatial(const Op& op, const symbolic_shape& x, const ops::ints& kernel, bool ceil_mode, const ctx& c) {
  const std::size_t nsp = x.size() - 2;
  symbolic_shape out;
  for (std::size_t i = 0; i < nsp; ++i) {
    const dim& d = x[2 + i];
    const std::int64_t s = op.strides.empty() ? 1 : op.strides[i];
    std::int64_t dil = 1;
    if constexpr (requires { op.dilations; }) dil = op.dilations.empty() ? 1 : op.dilations[i];
    if (!d.known() || i >= kernel.size()) { out.push_back(dim{}); continue; }
    if (op.auto_pad == "SAME_UPPER" || op.auto_pad == "SAME_LOWER") { out.push_back((d.value + s - 1) / s); continue; }
    const std::int64_t pb = op.pads.empty() || op.auto_pad == "VALID" ? 0 : op.pads[i];
    const std::int64_t pe = op.pads.empty() || op.auto_pad == "VALID" ? 0 : op.pads[i + nsp];
    const std::int64_t o = pool_out(d.value, kernel[i], s, pb, pe, dil, ceil_mode);
    if (o <= 0) c.fail_shape("window larger than the padded input");
    out.push_back(o);
  }
  return out;
}

}  // namespace shape_detail

// Per-op inference. Overload infer_op for your own ops (found by ADL); the default leaves outputs unknown.
namespace ops {

using shape_detail::ctx;

template <class Op>
void infer_op(const Op&, ctx&) {}

#define BIGMODEL_SAME_AS_INPUT(T) \
  inline void infer_op(const T&, ctx& c) { c.set(0, c.in[0].type, c.in[0].shape); }
BIGMODEL_SAME_AS_INPUT(sqrt)
BIGMODEL_SAME_AS_INPUT(erf)
BIGMODEL_SAME_AS_INPUT(tanh)
BIGMODEL_SAME_AS_INPUT(relu)
BIGMODEL_SAME_AS_INPUT(sigmoid)
BIGMODEL_SAME_AS_INPUT(exp)
BIGMODEL_SAME_AS_INPUT(neg)
BIGMODEL_SAME_AS_INPUT(reciprocal)
BIGMODEL_SAME_AS_INPUT(clip)
BIGMODEL_SAME_AS_INPUT(identity)
BIGMODEL_SAME_AS_INPUT(logical_not)
BIGMODEL_SAME_AS_INPUT(gelu)
#undef BIGMODEL_SAME_AS_INPUT

inline void infer_op(const dropout&, ctx& c) {
  c.set(0, c.in[0].type, c.in[0].shape);
  c.set(1, dtype::boolean, c.in[0].shape);
}

inline void infer_binary(ctx& c, std::optional<dtype> out_type) {
  c.same_type(0, 1);
  c.set(0, out_type.value_or(c.in[0].type), shape_detail::broadcast({&c.sh(0), &c.sh(1)}, c));
}
inline void infer_op(const add&, ctx& c) { infer_binary(c, {}); }
inline void infer_op(const sub&, ctx& c) { infer_binary(c, {}); }
inline void infer_op(const mul&, ctx& c) { infer_binary(c, {}); }
inline void infer_op(const div&, ctx& c) { infer_binary(c, {}); }
inline void infer_op(const pow&, ctx& c) { c.set(0, c.in[0].type, shape_detail::broadcast({&c.sh(0), &c.sh(1)}, c)); }
inline void infer_op(const equal&, ctx& c) { infer_binary(c, dtype::boolean); }
inline void infer_op(const less&, ctx& c) { infer_binary(c, dtype::boolean); }
inline void infer_op(const greater&, ctx& c) { infer_binary(c, dtype::boolean); }
inline void infer_op(const where&, ctx& c) {
  if (c.has(0) && c.in[0].type != dtype::boolean) c.fail_type("Where condition must be bool");
  c.same_type(1, 2);
  c.set(0, c.in[1].type, shape_detail::broadcast({&c.sh(0), &c.sh(1), &c.sh(2)}, c));
}

inline void infer_op(const softmax& op, ctx& c) {
  if (c.sh(0)) (void)shape_detail::norm_axis(op.axis, static_cast<std::int64_t>(c.sh(0)->size()), c);
  c.set(0, c.in[0].type, c.in[0].shape);
}
inline void infer_op(const layer_norm& op, ctx& c) {
  c.same_type(0, 1);
  if (c.sh(0) && c.sh(1)) {
    const auto& x = *c.sh(0);
    const auto axis = shape_detail::norm_axis(op.axis, static_cast<std::int64_t>(x.size()), c);
    const auto& s = *c.sh(1);
    if (s.size() > x.size() - static_cast<std::size_t>(axis)) c.fail_shape("LayerNormalization scale has too many dims");
    for (std::size_t i = 0; i < s.size(); ++i)
      shape_detail::check_dims(x[x.size() - s.size() + i], s[i], "LayerNormalization scale vs input", c);
  }
  c.set(0, c.in[0].type, c.in[0].shape);
}
inline void infer_op(const add_layer_norm& op, ctx& c) {
  c.same_type(0, 1);
  c.same_type(0, 2);
  std::optional<symbolic_shape> x = c.sh(0) ? c.sh(0) : c.sh(1);
  if (c.sh(0) && c.sh(1)) {
    if (c.sh(0)->size() != c.sh(1)->size()) c.fail_shape("AddLayerNormalization inputs have different ranks");
    for (std::size_t i = 0; i < c.sh(0)->size(); ++i)
      shape_detail::check_dims((*c.sh(0))[i], (*c.sh(1))[i], "AddLayerNormalization input vs residual", c);
  }
  if (x && c.sh(2)) {
    const auto axis = shape_detail::norm_axis(op.axis, static_cast<std::int64_t>(x->size()), c);
    const auto& s = *c.sh(2);
    if (s.size() > x->size() - static_cast<std::size_t>(axis)) c.fail_shape("AddLayerNormalization scale has too many dims");
    for (std::size_t i = 0; i < s.size(); ++i)
      shape_detail::check_dims((*x)[x->size() - s.size() + i], s[i], "AddLayerNormalization scale vs input", c);
  }
  c.set(0, c.in[0].type, x);
  c.set(1, c.in[0].type, x);
}
inline void infer_op(const batch_norm&, ctx& c) {
  if (c.sh(0) && c.sh(1) && c.sh(0)->size() >= 2 && !c.sh(1)->empty())
    shape_detail::check_dims((*c.sh(0))[1], (*c.sh(1))[0], "BatchNormalization channels vs scale", c);
  c.set(0, c.in[0].type, c.in[0].shape);
}

inline void infer_op(const matmul&, ctx& c) {
  c.same_type(0, 1);
  if (!c.sh(0) || !c.sh(1)) return c.set(0, c.in[0].type, std::nullopt);
  auto a = *c.sh(0), b = *c.sh(1);
  if (a.empty() || b.empty()) c.fail_shape("MatMul of a scalar");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), dim{1});
  if (b1) b.push_back(dim{1});
  shape_detail::check_dims(a.back(), b[b.size() - 2], "MatMul inner dimensions", c);
  std::optional<symbolic_shape> ba = symbolic_shape(a.begin(), a.end() - 2), bb = symbolic_shape(b.begin(), b.end() - 2);
  auto out = *shape_detail::broadcast({&ba, &bb}, c);
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const gemm& op, ctx& c) {
  c.same_type(0, 1);
  if (!c.sh(0) || !c.sh(1)) return c.set(0, c.in[0].type, std::nullopt);
  const auto &a = *c.sh(0), &b = *c.sh(1);
  if (a.size() != 2 || b.size() != 2) c.fail_shape("Gemm inputs must be 2-D, got " + to_string(a) + " and " + to_string(b));
  const dim m = op.trans_a ? a[1] : a[0], ka = op.trans_a ? a[0] : a[1];
  const dim kb = op.trans_b ? b[1] : b[0], n = op.trans_b ? b[0] : b[1];
  shape_detail::check_dims(ka, kb, "Gemm inner dimensions", c);
  if (c.has(2) && c.sh(2)) {
    std::optional<symbolic_shape> y = symbolic_shape{m, n};
    (void)shape_detail::broadcast({&y, &c.sh(2)}, c);
  }
  c.set(0, c.in[0].type, symbolic_shape{m, n});
}
inline void infer_op(const conv& op, ctx& c) {
  c.same_type(0, 1);
  if (!c.sh(0) || !c.sh(1)) return c.set(0, c.in[0].type, std::nullopt);
  const auto &x = *c.sh(0), &w = *c.sh(1);
  if (x.size() < 3 || w.size() != x.size()) c.fail_shape("Conv input " + to_string(x) + " and weight " + to_string(w) + " ranks");
  if (x[1].known() && w[1].known() && x[1].value != w[1].value * op.group)
    c.fail_shape("Conv channels: input has " + to_string(x[1]) + ", weight expects " + std::to_string(w[1].value * op.group));
  ops::ints kernel = op.kernel_shape;
  if (kernel.empty())
    for (std::size_t i = 2; i < w.size(); ++i) kernel.push_back(w[i].value);
  symbolic_shape out{x[0], w[0]};
  for (auto& d : shape_detail::spatial(op, x, kernel, false, c)) out.push_back(d);
  c.set(0, c.in[0].type, out);
}
template <class Pool>
void infer_pool(const Pool& op, ctx& c) {
  if (!c.sh(0)) return c.set(0, c.in[0].type, std::nullopt);
  const auto& x = *c.sh(0);
  if (x.size() < 3) c.fail_shape("pooling input must be at least 3-D, got " + to_string(x));
  symbolic_shape out{x[0], x[1]};
  for (auto& d : shape_detail::spatial(op, x, op.kernel_shape, op.ceil_mode != 0, c)) out.push_back(d);
  c.set(0, c.in[0].type, out);
  c.set(1, dtype::s64, out);
}
inline void infer_op(const max_pool& op, ctx& c) { infer_pool(op, c); }
inline void infer_op(const average_pool& op, ctx& c) { infer_pool(op, c); }
inline void infer_op(const global_average_pool&, ctx& c) {
  if (!c.sh(0)) return c.set(0, c.in[0].type, std::nullopt);
  auto out = *c.sh(0);
  for (std::size_t i = 2; i < out.size(); ++i) out[i] = dim{1};
  c.set(0, c.in[0].type, out);
}

inline dim product(const symbolic_shape& s, std::size_t b, std::size_t e) {
  std::int64_t p = 1;
  for (std::size_t i = b; i < e; ++i) {
    if (!s[i].known()) return (e - b == 1) ? s[i] : dim{};
    p *= s[i].value;
  }
  return p;
}
inline void infer_op(const flatten& op, ctx& c) {
  if (!c.sh(0)) return c.set(0, c.in[0].type, std::nullopt);
  const auto& x = *c.sh(0);
  const auto r = static_cast<std::int64_t>(x.size());
  const auto axis = static_cast<std::size_t>(op.axis < 0 ? op.axis + r : op.axis);
  if (axis > x.size()) c.fail_shape("Flatten axis out of range");
  c.set(0, c.in[0].type, symbolic_shape{product(x, 0, axis), product(x, axis, x.size())});
}
inline void infer_op(const reshape& op, ctx& c) {
  const auto target = c.ints(1);
  if (!target) {
    // A target computed at run time (the exporter's Shape/Gather/Concat of a tensor whose dims inference lost)
    // still fixes the rank: its length. Dims unknown.
    const auto& ts = c.sh(1);
    if (ts && ts->size() == 1 && (*ts)[0].known()) return c.set(0, c.in[0].type, symbolic_shape(static_cast<std::size_t>((*ts)[0].value), dim{}));
    return c.set(0, c.in[0].type, std::nullopt);
  }
  symbolic_shape out;
  int infer_at = -1;
  for (std::size_t i = 0; i < target->size(); ++i) {
    const auto t = (*target)[i];
    if (t == -1) { infer_at = static_cast<int>(i); out.push_back(dim{}); }
    else if (t == 0 && !op.allowzero) out.push_back(c.sh(0) && i < c.sh(0)->size() ? (*c.sh(0))[i] : dim{});
    else out.push_back(t);
  }
  if (infer_at >= 0 && c.sh(0)) {
    // -1 = (input elements) / (other target dims). Dims copied by 0 cancel on both sides, so a symbolic
    // batch copied through stays symbolic and the -1 is still known.
    const auto& x = *c.sh(0);
    std::int64_t in_known = 1, out_known = 1;
    bool ok = true;
    for (std::size_t i = 0; i < x.size() && ok; ++i) {
      const bool copied = i < target->size() && (*target)[i] == 0 && !op.allowzero;
      if (copied) continue;
      ok = x[i].known();
      if (ok) in_known *= x[i].value;
    }
    for (std::size_t i = 0; i < out.size() && ok; ++i) {
      const bool copied = (*target)[i] == 0 && !op.allowzero && i < x.size();
      if (static_cast<int>(i) == infer_at || copied) continue;
      ok = out[i].known();
      if (ok) out_known *= out[i].value;
    }
    if (ok && out_known > 0) {
      if (in_known % out_known) c.fail_shape("Reshape: cannot split " + std::to_string(in_known) + " elements");
      out[static_cast<std::size_t>(infer_at)] = in_known / out_known;
    }
  }
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const transpose& op, ctx& c) {
  if (!c.sh(0)) return c.set(0, c.in[0].type, std::nullopt);
  const auto& x = *c.sh(0);
  ops::ints perm = op.perm.value_or(ops::ints{});
  if (!op.perm)
    for (std::size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
  if (perm.size() != x.size()) c.fail_shape("Transpose perm has " + std::to_string(perm.size()) + " axes for rank " + std::to_string(x.size()));
  symbolic_shape out;
  for (auto p : perm) out.push_back(x.at(static_cast<std::size_t>(p < 0 ? p + static_cast<std::int64_t>(x.size()) : p)));
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const shape& op, ctx& c) {
  if (!c.sh(0)) return c.set(0, dtype::s64, symbolic_shape{dim{}});
  const auto r = static_cast<std::int64_t>(c.sh(0)->size());
  auto clampi = [&](std::int64_t v) { return std::clamp(v < 0 ? v + r : v, std::int64_t{0}, r); };
  const auto b = clampi(op.start), e = clampi(op.end.value_or(r));
  c.set(0, dtype::s64, symbolic_shape{std::max<std::int64_t>(e - b, 0)});
}
inline void infer_op(const gather& op, ctx& c) {
  if (!c.sh(0) || !c.sh(1)) return c.set(0, c.in[0].type, std::nullopt);
  const auto& x = *c.sh(0);
  const auto axis = static_cast<std::size_t>(shape_detail::norm_axis(op.axis, static_cast<std::int64_t>(x.size()), c));
  symbolic_shape out(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(axis));
  for (auto& d : *c.sh(1)) out.push_back(d);
  for (std::size_t i = axis + 1; i < x.size(); ++i) out.push_back(x[i]);
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const unsqueeze& op, ctx& c) {
  auto axes = op.axes ? op.axes : c.ints(1);
  if (!axes || !c.sh(0)) return c.set(0, c.in[0].type, std::nullopt);
  const auto r = static_cast<std::int64_t>(c.sh(0)->size() + axes->size());
  std::vector<bool> is_new(static_cast<std::size_t>(r), false);
  for (auto a : *axes) is_new[static_cast<std::size_t>(shape_detail::norm_axis(a, r, c))] = true;
  symbolic_shape out;
  std::size_t k = 0;
  for (std::size_t i = 0; i < is_new.size(); ++i) out.push_back(is_new[i] ? dim{1} : (*c.sh(0))[k++]);
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const squeeze& op, ctx& c) {
  auto axes = op.axes ? op.axes : c.ints(1);
  if (!c.sh(0) || (!axes && c.has(1))) return c.set(0, c.in[0].type, std::nullopt);
  const auto& x = *c.sh(0);
  std::vector<bool> drop(x.size(), false);
  if (axes) {
    for (auto a : *axes) {
      const auto i = static_cast<std::size_t>(shape_detail::norm_axis(a, static_cast<std::int64_t>(x.size()), c));
      if (x[i].known() && x[i].value != 1) c.fail_shape("Squeeze of a dimension that is not 1");
      drop[i] = true;
    }
  } else {
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!x[i].known()) return c.set(0, c.in[0].type, std::nullopt);
      drop[i] = x[i].value == 1;
    }
  }
  symbolic_shape out;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!drop[i]) out.push_back(x[i]);
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const concat& op, ctx& c) {
  for (std::size_t i = 1; i < c.in.size(); ++i) c.same_type(0, i);
  for (auto& t : c.in)
    if (!t.shape) return c.set(0, c.in[0].type, std::nullopt);
  auto out = *c.in[0].shape;
  const auto axis = static_cast<std::size_t>(shape_detail::norm_axis(op.axis, static_cast<std::int64_t>(out.size()), c));
  for (std::size_t i = 1; i < c.in.size(); ++i) {
    const auto& s = *c.in[i].shape;
    if (s.size() != out.size()) c.fail_shape("Concat inputs of different ranks");
    for (std::size_t d = 0; d < s.size(); ++d) {
      if (d == axis) out[d] = out[d].known() && s[d].known() ? dim{out[d].value + s[d].value} : dim{};
      else out[d] = shape_detail::broadcast_dim(out[d], s[d], c), shape_detail::check_dims(out[d], s[d], "Concat non-axis dims", c);
    }
  }
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const split& op, ctx& c) {
  const std::size_t n = c.out.size();
  if (!c.sh(0)) { for (std::size_t i = 0; i < n; ++i) c.set(i, c.in[0].type, std::nullopt); return; }
  const auto& x = *c.sh(0);
  const auto axis = static_cast<std::size_t>(shape_detail::norm_axis(op.axis, static_cast<std::int64_t>(x.size()), c));
  auto sizes = op.split_sizes ? op.split_sizes : c.ints(1);
  for (std::size_t i = 0; i < n; ++i) {
    auto s = x;
    if (sizes && sizes->size() == n) s[axis] = (*sizes)[i];
    else if (x[axis].known() && !c.has(1)) s[axis] = (x[axis].value + static_cast<std::int64_t>(n) - 1) / static_cast<std::int64_t>(n);
    else s[axis] = dim{};
    c.set(i, c.in[0].type, s);
  }
}
inline void infer_op(const slice&, ctx& c) {
  auto starts = c.ints(1), ends = c.ints(2), axes = c.has(3) ? c.ints(3) : std::optional<ops::ints>{}, steps = c.has(4) ? c.ints(4) : std::optional<ops::ints>{};
  if (!c.sh(0) || !starts || !ends || (c.has(3) && !axes) || (c.has(4) && !steps)) return c.set(0, c.in[0].type, std::nullopt);
  auto out = *c.sh(0);
  const auto r = static_cast<std::int64_t>(out.size());
  for (std::size_t i = 0; i < starts->size(); ++i) {
    const auto ax = static_cast<std::size_t>(shape_detail::norm_axis(axes ? (*axes)[i] : static_cast<std::int64_t>(i), r, c));
    const std::int64_t step = steps ? (*steps)[i] : 1;
    if (!out[ax].known()) { out[ax] = dim{}; continue; }
    const std::int64_t d = out[ax].value;
    auto clampi = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) { return std::clamp(v < 0 ? v + d : v, lo, hi); };
    std::int64_t b, e;
    if (step > 0) b = clampi((*starts)[i], 0, d), e = clampi((*ends)[i], 0, d);
    else b = clampi((*starts)[i], -1, d - 1), e = clampi((*ends)[i], -1, d - 1);
    const std::int64_t len = step > 0 ? (e - b + step - 1) / step : (b - e + (-step) - 1) / (-step);
    out[ax] = std::max<std::int64_t>(len, 0);
  }
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const cast& op, ctx& c) { c.set(0, op.to, c.in[0].shape); }
inline void infer_op(const constant& op, ctx& c) { c.set(0, op.value.type(), to_symbolic(op.value.shape())); }
inline void infer_op(const constant_of_shape& op, ctx& c) {
  const auto s = c.ints(0);
  c.set(0, op.value ? op.value->type() : dtype::f32, s ? std::optional(to_symbolic(*s)) : std::nullopt);
}
inline void infer_op(const expand&, ctx& c) {
  const auto s = c.ints(1);
  if (!s) return c.set(0, c.in[0].type, std::nullopt);
  std::optional<symbolic_shape> t = to_symbolic(*s);
  c.set(0, c.in[0].type, shape_detail::broadcast({&c.sh(0), &t}, c));
}
inline void infer_op(const range&, ctx& c) { c.set(0, c.in[0].type, symbolic_shape{dim{}}); }
template <class Reduce>
void infer_reduce(const Reduce& op, ctx& c) {
  auto axes = op.axes ? op.axes : c.ints(1);
  if (!c.sh(0) || (!axes && c.has(1))) return c.set(0, c.in[0].type, std::nullopt);
  const auto& x = *c.sh(0);
  std::vector<bool> red(x.size(), !axes || axes->empty());
  if (axes)
    for (auto a : *axes) red[static_cast<std::size_t>(shape_detail::norm_axis(a, static_cast<std::int64_t>(x.size()), c))] = true;
  symbolic_shape out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!red[i]) out.push_back(x[i]);
    else if (op.keepdims) out.push_back(dim{1});
  }
  c.set(0, c.in[0].type, out);
}
inline void infer_op(const reduce_mean& op, ctx& c) { infer_reduce(op, c); }
inline void infer_op(const reduce_sum& op, ctx& c) { infer_reduce(op, c); }
inline void infer_op(const quantize_linear&, ctx& c) { c.set(0, c.has(2) ? c.in[2].type : dtype::u8, c.in[0].shape); }
inline void infer_op(const dequantize_linear&, ctx& c) { c.set(0, dtype::f32, c.in[0].shape); }
inline void infer_op(const matmul_integer&, ctx& c) {
  ctx tmp = c;
  tmp.in.resize(2);
  tmp.in[1].type = tmp.in[0].type;
  infer_op(matmul{}, tmp);
  c.set(0, dtype::s32, tmp.out[0].shape);
}
inline void infer_op(const dynamic_quantize_linear&, ctx& c) {
  c.set(0, dtype::u8, c.in[0].shape);
  c.set(1, dtype::f32, symbolic_shape{});
  c.set(2, dtype::u8, symbolic_shape{});
}
inline void infer_op(const attention& op, ctx& c) {
  if (op.layout != 0 && op.layout != 1) c.fail_shape("Attention layout must be 0 or 1");
  if (op.layout == 1 && op.k_transposed) c.fail_shape("Attention layout 1 takes k untransposed");
  if (!c.sh(0) || !c.sh(2)) return c.set(0, c.in[0].type, std::nullopt);
  auto out = *c.sh(0);
  const auto& v = *c.sh(2);
  if (op.layout == 1 && (out.size() != 4 || v.size() != 4 || (c.sh(1) && c.sh(1)->size() != 4)))
    c.fail_shape("Attention layout 1 needs 4-D q, k, v");
  if (out.size() < 2 || v.size() < 2) c.fail_shape("Attention inputs must be at least 2-D");
  if (c.sh(1) && !c.sh(1)->empty())
    shape_detail::check_dims(out.back(), op.k_transposed ? (*c.sh(1))[c.sh(1)->size() - 2] : c.sh(1)->back(), "Attention head size of q vs k", c);
  out.back() = v.back();
  c.set(0, c.in[0].type, out);
}

}  // namespace ops

// Infers dtype and shape of every node output in topological order; declared types (from the file) are
// checked against inferred ones and kept where more precise. Throws graph.shape_mismatch /
// graph.dtype_mismatch / graph.cycle.
template <class OpSet>
void infer_shapes(basic_computation_graph<OpSet>& g) {
  for (auto n : topological_order(g)) {
    shape_detail::ctx c;
    c.where = g.describe(n);
    for (auto v : g.inputs(n)) {
      if (!v.valid()) { c.in.push_back({}); continue; }
      const auto& info = g.at(v);
      c.in.push_back({info.type, info.shape, info.initializer ? &*info.initializer : nullptr});
    }
    c.out.resize(g.outputs(n).size());
    std::visit([&](const auto& op) {
      using ops::infer_op;
      using Op = std::decay_t<decltype(op)>;
      if constexpr (!std::is_same_v<Op, ops::constant>) {
        if (c.in.empty()) return;  // malformed; validate_structure reports it
      }
      infer_op(op, c);
    }, g.op_of(n));
    for (std::size_t i = 0; i < c.out.size(); ++i) {
      auto& info = g.at(g.outputs(n)[i]);
      const auto& got = c.out[i];
      if (got.type != dtype::undefined) {
        if (info.type != dtype::undefined && info.type != got.type)
          throw error("graph.dtype_mismatch", "declared element type differs from the inferred one",
                      c.where + ", value '" + info.name + "': declared " + std::string(name(info.type)) + ", inferred " +
                          std::string(name(got.type)));
        info.type = got.type;
      }
      if (!got.shape) continue;
      if (!info.shape) { info.shape = got.shape; continue; }
      auto& decl = *info.shape;
      if (decl.size() != got.shape->size())
        throw error("graph.shape_mismatch", "declared rank differs from the inferred one",
                    c.where + ", value '" + info.name + "': declared " + to_string(decl) + ", inferred " + to_string(*got.shape));
      for (std::size_t d = 0; d < decl.size(); ++d) {
        const dim& inf = (*got.shape)[d];
        if (decl[d].known() && inf.known() && decl[d].value != inf.value)
          throw error("graph.shape_mismatch", "declared shape differs from the inferred one",
                      c.where + ", value '" + info.name + "': declared " + to_string(decl) + ", inferred " + to_string(*got.shape));
        if (!decl[d].known() && (inf.known() || decl[d].symbol.empty())) decl[d] = inf;
      }
    }
  }
}

// Full validation: structure (dangling, arity, cycles) and types/shapes of the supported ops.
template <class OpSet>
void validate(basic_computation_graph<OpSet>& g) {
  validate_structure(g);
  infer_shapes(g);
}

}  // namespace bigmodel
