#pragma once
// bigmodel-opt inspect MODEL.onnx

#include <bigmodel/graph.hpp>
#include <bigmodel/io/onnx_graph.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "args.hpp"
#include "report.hpp"

namespace cli {

inline std::string shape_string(const bigmodel::value_info& v) {
  return v.shape ? bigmodel::to_string(*v.shape) : std::string("[?]");
}

// Quantization found in a model: Q/DQ pairs, integer GEMMs, integer weights by element type.
inline std::map<std::string, std::size_t> quantization_summary(const bigmodel::computation_graph& g) {
  std::map<std::string, std::size_t> q;
  for (auto n : g.nodes()) {
    const auto t = std::string(bigmodel::op_type_name(g.op_of(n)));
    if (t == "QuantizeLinear" || t == "DequantizeLinear" || t == "MatMulInteger" || t == "DynamicQuantizeLinear" ||
        t == "QLinearMatMul" || t == "MatMulNBits" || t == "QLinearConv" || t == "ConvInteger")
      ++q["op " + t];
    if (const auto* dq = g.op_as<bigmodel::ops::dequantize_linear>(n)) {
      const auto& in = g.inputs(n);
      const bool per_axis = in.size() > 1 && g.is_constant(in[1]) && g.constant_value(in[1])->numel() > 1;
      (void)dq;
      ++q[per_axis ? "DequantizeLinear per-axis" : "DequantizeLinear per-tensor"];
    }
  }
  g.visit_parameters([&](std::string_view, const bigmodel::dynamic_tensor& w) {
    if (!bigmodel::is_floating(w.type()) && w.type() != bigmodel::dtype::s64 && w.type() != bigmodel::dtype::s32)
      ++q["weights " + std::string(bigmodel::name(w.type()))];
  });
  return q;
}

inline int cmd_inspect(const std::vector<std::string>& argv, const output& out) {
  const args a(argv, {{"help", false}, {"json", false}, {"quiet", false}});
  if (a.has("help") || a.positional().size() != 1) {
    std::printf("usage: bigmodel-opt inspect MODEL.onnx [--json]\n"
                "  Inputs and outputs with shapes, nodes per op type, parameters and bytes by element type,\n"
                "  sparsity, and the quantization found in the model.\n");
    return a.has("help") ? 0 : 2;
  }
  const std::filesystem::path path = a.positional()[0];
  auto g = bigmodel::io::load_onnx(path);
  const auto stats = bigmodel::passes::stats_of(g);
  std::map<std::string, std::pair<std::size_t, std::size_t>> by_dtype;  // elements, bytes
  g.visit_parameters([&](std::string_view, const bigmodel::dynamic_tensor& w) {
    auto& e = by_dtype[std::string(bigmodel::name(w.type()))];
    e.first += static_cast<std::size_t>(w.numel());
    e.second += w.bytes();
  });
  const auto quant = quantization_summary(g);
  const std::size_t file_bytes = std::filesystem::file_size(path);
  if (out.json || a.has("json")) {
    std::string j = "{\"model\":\"" + json_escape(path.string()) + "\",\"inputs\":[";
    bool first = true;
    for (auto v : g.graph_inputs()) {
      j += std::string(first ? "" : ",") + "{\"name\":\"" + json_escape(g.name_of(v)) + "\",\"dtype\":\"" +
           std::string(bigmodel::name(g.at(v).type)) + "\",\"shape\":\"" + json_escape(shape_string(g.at(v))) + "\"}";
      first = false;
    }
    j += "],\"outputs\":[";
    first = true;
    for (auto v : g.graph_outputs()) {
      j += std::string(first ? "" : ",") + "{\"name\":\"" + json_escape(g.name_of(v)) + "\",\"dtype\":\"" +
           std::string(bigmodel::name(g.at(v).type)) + "\",\"shape\":\"" + json_escape(shape_string(g.at(v))) + "\"}";
      first = false;
    }
    j += "],\"stats\":" + stats_json(stats, file_bytes) + ",\"quantization\":{";
    first = true;
    for (const auto& [k, n] : quant) {
      j += (first ? "\"" : ",\"") + json_escape(k) + "\":" + std::to_string(n);
      first = false;
    }
    std::printf("%s}}\n", j.c_str());
    return 0;
  }
  std::printf("model: %s (%s)\n", path.string().c_str(), human_bytes(file_bytes).c_str());
  std::printf("inputs:\n");
  for (auto v : g.graph_inputs())
    std::printf("  %-24s %-5s %s\n", g.name_of(v).c_str(), std::string(bigmodel::name(g.at(v).type)).c_str(),
                shape_string(g.at(v)).c_str());
  std::printf("outputs:\n");
  for (auto v : g.graph_outputs())
    std::printf("  %-24s %-5s %s\n", g.name_of(v).c_str(), std::string(bigmodel::name(g.at(v).type)).c_str(),
                shape_string(g.at(v)).c_str());
  std::printf("nodes: %zu\n", stats.nodes);
  for (const auto& [op, n] : stats.ops) std::printf("  %-24s %zu\n", op.c_str(), n);
  std::printf("parameters: %zu (%s)\n", stats.parameters, human_bytes(stats.parameter_bytes).c_str());
  for (const auto& [t, e] : by_dtype) std::printf("  %-24s %zu elements, %s\n", t.c_str(), e.first, human_bytes(e.second).c_str());
  std::printf("sparsity: %.1f%% of parameters are zero\n",
              stats.parameters ? 100.0 * static_cast<double>(stats.zero_parameters) / static_cast<double>(stats.parameters) : 0.0);
  if (quant.empty()) {
    std::printf("quantization: none (float model)\n");
  } else {
    std::printf("quantization:\n");
    for (const auto& [k, n] : quant) std::printf("  %-24s %zu\n", k.c_str(), n);
  }
  return 0;
}

}  // namespace cli
