#pragma once
// fuse_attention: scaled dot-product attention as exporters write it,
//   s = MatMul(q, kT) [Div c | Mul c] [Add mask | Where(cond, s, fill)]; p = Softmax(s, last axis); y = MatMul(p, v)
// becomes ops::attention{scale, k_transposed}(q, k, v[, additive mask]). A Where mask becomes the additive
// mask Where(cond, 0, fill) (one small node: exp(fill + s) and exp(fill) both underflow to 0 for a large
// negative fill). When kT is Transpose(k) swapping the last two axes, k is read directly (k_transposed = 0).
// Leaves alone: any intermediate read elsewhere, Softmax over another axis, q/kT/v of different or unknown
// ranks, a scale that is not a constant scalar, a fused activation on either MatMul.
// Then the head split / merge transposes around the op are absorbed (layout 1, see absorb_head_transposes).

#include <algorithm>
#include <array>
#include <span>

#include "graph_helpers.hpp"
#include "pass_object.hpp"

namespace bigmodel::passes {

namespace detail {

struct attention_match {
  std::vector<node_id> nodes;
  value_id q, k, v, y;
  float scale = 1.0f;
  bool k_transposed = true;
  value_id mask;                   // additive mask, or
  value_id where_cond, where_fill; // a Where to turn into one
  bool scores_on_true = true;
};

template <class OpSet>
bool plain_matmul(const basic_computation_graph<OpSet>& g, node_id n) {
  const auto* mm = n.valid() ? g.template op_as<ops::matmul>(n) : nullptr;
  return mm && mm->act.kind == ops::activation_kind::none;
}

// From the scores value (before the mask): the scale and the QK MatMul.
template <class OpSet>
bool match_scores(const basic_computation_graph<OpSet>& g, value_id s, attention_match& m) {
  node_id n = g.producer(s);
  if (!n.valid() || !single_consumer(g, s)) return false;
  if (g.template op_as<ops::div>(n) || g.template op_as<ops::mul>(n)) {
    const int cs = constant_slot(g, n);
    const bool is_div = g.template op_as<ops::div>(n) != nullptr;
    if (cs < 0 || (is_div && cs != 1)) return false;
    const auto c = scalar_of(g, g.inputs(n)[static_cast<std::size_t>(cs)]);
    if (!c || *c == 0.0) return false;
    m.scale = static_cast<float>(is_div ? 1.0 / *c : *c);
    m.nodes.push_back(n);
    s = g.inputs(n)[static_cast<std::size_t>(1 - cs)];
    n = producer_as<ops::matmul>(g, s);
  }
  if (!plain_matmul(g, n) || !single_consumer(g, s)) return false;
  m.nodes.push_back(n);
  m.q = g.inputs(n)[0];
  m.k = g.inputs(n)[1];
  return true;
}

// Softmax input: scores, scores + mask, or Where(cond, scores, fill).
template <class OpSet>
bool match_masked_scores(const basic_computation_graph<OpSet>& g, value_id z, attention_match& m) {
  const node_id p = g.producer(z);
  if (p.valid() && single_consumer(g, z) && g.template op_as<ops::add>(p)) {
    for (std::size_t s = 0; s < 2; ++s) {
      attention_match t = m;
      if (match_scores(g, g.inputs(p)[s], t)) {
        m = t;
        m.mask = g.inputs(p)[1 - s];
        m.nodes.push_back(p);
        return true;
      }
    }
    return false;
  }
  if (p.valid() && single_consumer(g, z) && g.template op_as<ops::where>(p)) {
    for (std::size_t s = 1; s < 3; ++s) {
      const value_id fill = g.inputs(p)[3 - s];
      attention_match t = m;
      if (scalar_of(g, fill) && match_scores(g, g.inputs(p)[s], t)) {
        m = t;
        m.where_cond = g.inputs(p)[0];
        m.where_fill = fill;
        m.scores_on_true = s == 1;
        m.nodes.push_back(p);
        return true;
      }
    }
    return false;
  }
  return match_scores(g, z, m);
}

template <class OpSet>
bool ranks_agree(const basic_computation_graph<OpSet>& g, const attention_match& m) {
  const auto rq = rank_of(g, m.q), rk = rank_of(g, m.k), rv = rank_of(g, m.v);
  if (!rq || rq != rk || rq != rv || *rq < 2) return false;
  const auto &sq = *g.at(m.q).shape, &sk = *g.at(m.k).shape, &sv = *g.at(m.v).shape;
  for (std::size_t i = 0; i + 2 < *rq; ++i)  // batch dims: known ones must agree (no broadcasting)
    for (const dim* o : {&sk[i], &sv[i]})
      if (sq[i].known() && o->known() && sq[i].value != o->value) return false;
  return true;
}

template <class OpSet>
std::optional<attention_match> match_attention(const basic_computation_graph<OpSet>& g, node_id sm) {
  const auto axis = g.template op_as<ops::softmax>(sm)->axis;
  const auto r = rank_of(g, g.inputs(sm)[0]);
  if (!(axis == -1 || (r && axis == static_cast<std::int64_t>(*r) - 1))) return std::nullopt;
  const node_id pv = sole_consumer(g, g.outputs(sm)[0]);
  if (!plain_matmul(g, pv) || g.inputs(pv)[0] != g.outputs(sm)[0]) return std::nullopt;
  attention_match m;
  if (!match_masked_scores(g, g.inputs(sm)[0], m)) return std::nullopt;
  m.nodes.insert(m.nodes.end(), {sm, pv});
  m.v = g.inputs(pv)[1];
  m.y = g.outputs(pv)[0];
  if (!g.at(m.q).shape || !g.at(m.k).shape || !g.at(m.v).shape || !ranks_agree(g, m)) return std::nullopt;
  // kT = Transpose(k) over the last two axes: read k itself.
  if (const node_id t = producer_op<ops::transpose>(g, m.k); t.valid()) {
    const auto& perm = g.template op_as<ops::transpose>(t)->perm;
    const std::size_t rank = *rank_of(g, m.k);
    bool swap = perm && perm->size() == rank;
    for (std::size_t i = 0; swap && i < rank; ++i)
      swap = (*perm)[i] == static_cast<std::int64_t>(i + 2 < rank ? i : (i + 2 == rank ? rank - 1 : rank - 2));
    if (swap) m.k = g.inputs(t)[0], m.k_transposed = false;
  }
  return m;
}

// The transposes that only split heads off the projections (q, v: [B, T, H, D] -> [B, H, T, D]; k to
// [B, H, S, D] or, with k_transposed, [B, H, D, S]) and merge them back ([B, H, T, Dv] -> [B, T, H, Dv]) go
// into the op as layout 1: the kernel reads q, k, v and writes y in place with strides. All four transposes
// must be there and read by this op only (otherwise nothing changes).
template <class OpSet>
bool absorb_head_transposes(basic_computation_graph<OpSet>& g, node_id n) {
  const auto op = *g.template op_as<ops::attention>(n);
  if (op.layout != 0) return false;
  const auto in = g.inputs(n);
  auto with_perm = [&](node_id t, std::array<std::int64_t, 4> want) {
    const auto* tr = t.valid() ? g.template op_as<ops::transpose>(t) : nullptr;
    return tr && tr->perm && std::equal(tr->perm->begin(), tr->perm->end(), want.begin(), want.end());
  };
  const node_id tq = producer_as<ops::transpose>(g, in[0]), tk = producer_as<ops::transpose>(g, in[1]),
                tv = producer_as<ops::transpose>(g, in[2]), ty = sole_consumer(g, g.outputs(n)[0]);
  if (!with_perm(tq, {0, 2, 1, 3}) || !with_perm(tv, {0, 2, 1, 3}) || !with_perm(ty, {0, 2, 1, 3})) return false;
  if (!with_perm(tk, op.k_transposed ? std::array<std::int64_t, 4>{0, 2, 3, 1} : std::array<std::int64_t, 4>{0, 2, 1, 3}))
    return false;
  if (tq == tk || tq == tv || tk == tv) return false;
  std::vector<value_id> inputs{g.inputs(tq)[0], g.inputs(tk)[0], g.inputs(tv)[0]};
  if (in.size() > 3) inputs.push_back(in[3]);
  const std::array<node_id, 5> old{tq, tk, tv, n, ty};
  replace_subgraph(g, std::span<const node_id>(old), ops::attention{op.scale, op.causal, 0, 1}, std::move(inputs),
                   {g.outputs(ty)[0]}, g.at(n).name);
  return true;
}

struct fuse_attention_impl {
  static constexpr std::string_view name = "fuse_attention";
  template <class OpSet>
  static rewrite_result apply(basic_computation_graph<OpSet>& g, const no_config&) {
    infer_shapes(g);
    rewrite_result r;
    for (auto n : topological_order(g)) {
      if (!g.alive(n) || !g.template op_as<ops::softmax>(n)) continue;
      auto m = match_attention(g, n);
      if (!m) continue;
      if (m->where_cond.valid()) {  // additive form of the Where mask
        const value_id zero = add_constant(g, "attention_mask_zero", dynamic_tensor::scalar(0.0f));
        const auto fill = m->where_fill;
        m->mask = add_op(g, ops::where{}, {m->where_cond, m->scores_on_true ? zero : fill, m->scores_on_true ? fill : zero},
                         "attention_mask");
      }
      std::vector<value_id> in{m->q, m->k, m->v};
      if (m->mask.valid()) in.push_back(m->mask);
      replace_subgraph(g, m->nodes, ops::attention{m->scale, 0, m->k_transposed ? 1 : 0}, std::move(in), {m->y});
      ++r.changes;
    }
    remove_dead_nodes(g);  // the replaced kT transposes: their inputs must have one reader left
    bool absorbed = false;
    for (auto n : g.nodes())
      if (g.alive(n) && g.template op_as<ops::attention>(n) && absorb_head_transposes(g, n)) ++r.changes, absorbed = true;
    if (absorbed) remove_dead_nodes(g);
    return r;
  }
};

}  // namespace detail

inline constexpr pass_fn<detail::fuse_attention_impl> fuse_attention{};

}  // namespace bigmodel::passes
