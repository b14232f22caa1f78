#pragma once
// The quantizable layers of a computation_graph: MatMul / Gemm / Conv nodes whose weight (input 1) is a
// constant f32 initializer. The graph tells each weight's orientation: MatMul's B and Gemm's B without
// transB are stored [inputs, outputs]; Gemm's B with transB, and Conv's [out, in/groups, kh, kw], output first.

#include <cstdint>
#include <string>
#include <vector>

#include "../../graph/computation_graph.hpp"
#include "scheme.hpp"
#include "weight_matrix.hpp"

namespace bigmodel::quant {

struct graph_layer {
  node_id node;
  value_id weight;
  std::string node_name, weight_name, op_type;
  bool inputs_first = false;    // stored [inputs, outputs]
  std::size_t rows = 0, cols = 0;  // [outputs, inputs] after flattening Conv's spatial dims
  [[nodiscard]] layer_ref ref() const { return {node_name, weight_name, op_type}; }
  [[nodiscard]] std::string where() const { return "layer '" + (node_name.empty() ? weight_name : node_name) + "' (" + op_type + ", weight '" + weight_name + "')"; }
};

template <class OpSet>
[[nodiscard]] std::vector<graph_layer> find_layers(const basic_computation_graph<OpSet>& g) {
  std::vector<graph_layer> out;
  for (const auto n : g.nodes()) {
    const auto& ins = g.inputs(n);
    if (ins.size() < 2 || !g.is_constant(ins[1])) continue;
    const dynamic_tensor& w = *g.constant_value(ins[1]);
    if (w.type() != dtype::f32 || w.numel() == 0) continue;
    graph_layer l{n, ins[1], g.at(n).name, g.name_of(ins[1]), std::string(op_type_name(g.op_of(n)))};
    if (g.template op_as<ops::matmul>(n)) {
      if (w.rank() != 2) continue;
      l.inputs_first = true;
    } else if (const auto* gm = g.template op_as<ops::gemm>(n)) {
      if (w.rank() != 2) continue;
      l.inputs_first = !gm->trans_b;
    } else if (g.template op_as<ops::conv>(n)) {
      if (w.rank() < 3) continue;
    } else {
      continue;
    }
    const auto d0 = static_cast<std::size_t>(w.dim(0)), rest = static_cast<std::size_t>(w.numel()) / d0;
    l.rows = l.inputs_first ? rest : d0;
    l.cols = l.inputs_first ? d0 : rest;
    out.push_back(std::move(l));
  }
  return out;
}

// The weight seen as [outputs, inputs] (read-only, no copy).
[[nodiscard]] inline const_weight_view output_major(const dynamic_tensor& w, bool inputs_first) {
  const auto d0 = static_cast<std::size_t>(w.dim(0)), rest = static_cast<std::size_t>(w.numel()) / d0;
  const auto m = matrix_view(w.span<float>().data(), d0, rest, rest);
  if (!inputs_first) return m;
  using map = layout_stride::mapping<dextents<2>>;
  return {m.data(), map(dextents<2>(rest, d0), {1, rest})};
}

// Checks a layer's weight against a scheme without changing anything: finite values, a group size that
// divides the inputs, values inside the fp16 range. Throws bigmodel::error naming the layer.
template <class OpSet>
void validate_layer(const basic_computation_graph<OpSet>& g, const graph_layer& l, const weight_scheme& s) {
  const auto w = output_major(*g.constant_value(l.weight), l.inputs_first);
  check_finite(w, l.where());
  if (is_integer(s.type)) (void)group_length(s, l.rows, l.cols, l.where());
  if (s.type == weight_type::f16)
    for (std::size_t r = 0; r < w.extent(0); ++r)
      for (std::size_t c = 0; c < w.extent(1); ++c)
        if (std::abs(w(r, c)) > 65504.0f)
          throw error("quant.fp16_overflow", "weight " + std::to_string(w(r, c)) + " exceeds the fp16 range (65504)", l.where());
}

// A new initializer named after `hint` (made unique).
template <class OpSet>
value_id add_constant(basic_computation_graph<OpSet>& g, std::string_view hint, dynamic_tensor t) {
  const value_id v = g.add_value(hint);
  auto& info = g.at(v);
  info.type = t.type();
  info.shape = to_symbolic(t.shape());
  info.initializer = std::move(t);
  return v;
}

// Cast<f32>(in) -> out (`to` is a required field: the ONNX writer always emits it).
template <class OpSet>
node_id add_cast_to_f32(basic_computation_graph<OpSet>& g, value_id in, value_id out, std::string_view name) {
  return g.add_node(ops::cast{dtype::f32}, {in}, {out}, g.unique_node_name(name));
}

// Erases a weight no node reads any more (keeps graph inputs and outputs).
template <class OpSet>
void erase_if_unused(basic_computation_graph<OpSet>& g, value_id v) {
  const auto& info = g.at(v);
  if (info.uses.empty() && !info.is_input && !info.is_output && !info.producer.valid()) g.erase_value(v);
}

// What a quantization pass did: layers quantized (with their scheme), layers skipped and why, bytes.
struct layer_report {
  std::string layer, scheme;
  std::size_t parameters = 0, bytes_before = 0, bytes_after = 0;
};
struct quantize_report {
  std::vector<layer_report> layers;
  std::vector<std::string> notes;  // skipped layers and why
  std::size_t changes = 0;
  [[nodiscard]] std::size_t bytes_before() const {
    std::size_t n = 0;
    for (const auto& l : layers) n += l.bytes_before;
    return n;
  }
  [[nodiscard]] std::size_t bytes_after() const {
    std::size_t n = 0;
    for (const auto& l : layers) n += l.bytes_after;
    return n;
  }
};

}  // namespace bigmodel::quant
