#pragma once
// bigmodel-opt optimize IN.onnx -o OUT.onnx [--optimize LEVEL] [--prune METHOD:AMOUNT ...] [--quantize SCHEME]
//                       [--calibration FILE.npy ...] [--exclude PATTERN ...] [--report REPORT.json]

#include <bigmodel/graph.hpp>
#include <bigmodel/io/file.hpp>
#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes.hpp>
#include <bigmodel/passes/quantize.hpp>
#include <bigmodel/runtime/constant_evaluator.hpp>
#include <bigmodel/runtime/calibration.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "args.hpp"
#include "report.hpp"
#include "tensors.hpp"

namespace cli {

inline double parse_amount(const std::string& s, const std::string& spec) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || !(v >= 0.0 && v <= 1.0))
    throw usage_error("--prune " + spec + ": the amount must be a fraction in [0, 1]");
  return v;
}

struct prune_request {
  bigmodel::prune::prune_config cfg;
  bool wanda = false;     // activation-aware: needs calibration
  bool channels = false;  // structured channel removal (cfg.amount)
  bigmodel::prune::channel_criterion criterion = bigmodel::prune::channel_criterion::l2;
  bool global = false;    // channels: one threshold across layers
};

// METHOD:AMOUNT -> a pruning configuration. N:M (and wanda-N:M) take no amount.
inline prune_request parse_prune(std::string spec) {
  using bigmodel::prune::method;
  prune_request req;
  if (spec.rfind("wanda-", 0) == 0) {
    req.wanda = true;
    spec = spec.substr(6);
  }
  auto& cfg = req.cfg;
  const auto colon = spec.rfind(':');
  const std::string head = colon == std::string::npos ? spec : spec.substr(0, colon);
  const std::string tail = colon == std::string::npos ? "" : spec.substr(colon + 1);
  // N:M (2:4, 4:8): both parts are integers.
  auto is_uint = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
  if (is_uint(head) && is_uint(tail)) {
    cfg.how = method::n_m;
    cfg.n = std::stoul(head);
    cfg.m = std::stoul(tail);
    return req;
  }
  if (req.wanda) throw usage_error("--prune wanda-" + spec + ": write wanda-N:M (e.g. wanda-2:4) or wanda:AMOUNT");
  if (colon == std::string::npos) throw usage_error("--prune " + spec + ": write METHOD:AMOUNT (e.g. l1:0.5) or N:M (e.g. 2:4)");
  cfg.amount = parse_amount(tail, spec);
  if (head == "l1") cfg.how = method::l1_unstructured;
  else if (head == "global-l1") cfg.how = method::global_unstructured;
  else if (head == "random") cfg.how = method::random_unstructured;
  else if (head == "wanda") cfg.how = method::per_row, req.wanda = true;
  else if (head.rfind("ln-structured", 0) == 0) {
    cfg.how = method::ln_structured;
    const std::string n = head.substr(13);  // "", "-l1", "-l2", "-linf"
    cfg.norm = n.empty() || n == "-l2" ? 2.0 : n == "-l1" ? 1.0 : n == "-linf" ? INFINITY : -1.0;
    if (cfg.norm < 0) throw usage_error("--prune " + spec + ": ln-structured takes -l1, -l2 or -linf");
  } else if (head.rfind("channels", 0) == 0) {
    // channels[-l1|-l2|-activation][-global]
    req.channels = true;
    std::string rest = head.substr(8);
    auto take = [&](const std::string& suffix) {
      if (rest.size() < suffix.size() || rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
      rest.resize(rest.size() - suffix.size());
      return true;
    };
    req.global = take("-global");
    using bigmodel::prune::channel_criterion;
    if (take("-activation")) req.criterion = channel_criterion::activation, req.wanda = true;
    else if (take("-l1")) req.criterion = channel_criterion::l1;
    else (void)take("-l2");
    if (!rest.empty()) throw usage_error("--prune " + spec + ": write channels[-l1|-l2|-activation][-global]:AMOUNT");
  } else {
    throw usage_error("--prune " + spec + ": unknown method '" + head +
                      "' (l1, global-l1, random, ln-structured[-l1|-l2|-linf], wanda, channels, N:M, wanda-N:M)");
  }
  return req;
}

// --quantize SCHEME -> runs the quantization pass on g; returns its report.
inline bigmodel::quant::quantize_report run_quantize(bigmodel::computation_graph& g, const std::string& scheme,
                                                     const std::vector<std::string>& excludes,
                                                     const std::vector<bigmodel::named_tensors>& calibration,
                                                     const std::string& scales = "f32") {
  namespace q = bigmodel::quant;
  auto layers_for = [&](q::weight_scheme ws) {
    q::layer_selection sel;
    sel.scheme = ws;
    sel.exclude = excludes;
    return sel;
  };
  using q::granularity_kind;
  using q::weight_type;
  const auto sym = bigmodel::symmetry::symmetric;
  if (scales != "f32" && scales != "f16") throw usage_error("--scales " + scales + ": write f32 or f16");
  const bool f16_scales = scales == "f16";
  if (f16_scales && scheme.find("weight-only") == std::string::npos)
    throw usage_error("--scales f16 applies to int8-weight-only and int4-weight-only, not to " + scheme);
  if (scheme == "int8-dynamic") {
    q::dynamic_config cfg;
    cfg.layers.exclude = excludes;
    return q::quantize_dynamic(g, cfg);
  }
  if (scheme == "int8-static") {
    if (calibration.empty()) throw usage_error("--quantize int8-static needs --calibration FILE.npy");
    q::static_config cfg;
    cfg.layers.exclude = excludes;
    return q::quantize_static(g, calibration, cfg);
  }
  if (scheme == "int8-weight-only")
    return q::quantize_weights(g, {.layers = layers_for({weight_type::s8, granularity_kind::per_channel, 0, sym, f16_scales})});
  if (scheme == "fp16") return q::quantize_weights(g, {.layers = layers_for({weight_type::f16, granularity_kind::per_tensor, 0, sym})});
  if (scheme == "bf16") return q::quantize_weights(g, {.layers = layers_for({weight_type::bf16, granularity_kind::per_tensor, 0, sym})});
  if (scheme.rfind("int4-weight-only", 0) == 0) {
    std::size_t group = 32;
    if (scheme.size() > 16) {
      const std::string g_text = scheme.substr(16);
      if (g_text.size() < 2 || g_text[0] != ':' || g_text.find_first_not_of("0123456789", 1) != std::string::npos)
        throw usage_error("--quantize " + scheme + ": write int4-weight-only or int4-weight-only:G (G a group size)");
      group = std::stoul(g_text.substr(1));
      if (group == 0) throw usage_error("--quantize " + scheme + ": the group size must be positive");
    }
    return q::quantize_weights(g, {.layers = layers_for({weight_type::s4, granularity_kind::per_group, group, sym, f16_scales}),
                                   .keep_indivisible_fp32 = true});
  }
  throw usage_error("--quantize " + scheme +
                    ": unknown scheme (int8-dynamic, int8-static, int8-weight-only, int4-weight-only[:G], fp16, bf16)");
}

inline int cmd_optimize(const std::vector<std::string>& argv, const output& out) {
  const args a(argv, {{"help", false}, {"output", true}, {"optimize", true}, {"prune", true}, {"quantize", true},
                      {"calibration", true}, {"exclude", true}, {"report", true}, {"keep-fused", false}, {"scales", true},
                      {"attention", true}, {"json", false}, {"quiet", false}});
  if (a.has("help") || a.positional().size() != 1 || !a.has("output")) {
    std::printf(
        "usage: bigmodel-opt optimize IN.onnx -o OUT.onnx [options]\n"
        "  --optimize LEVEL         none; basic (constant folding, identity/dead/CSE elimination, BatchNorm\n"
        "                           folding, MatMul+Add->Gemm); extended (basic + LayerNorm, GELU, attention\n"
        "                           and activation fusion) [default: basic]\n"
        "  --keep-fused             write fused ops in the com.bigmodel domain (smaller; only bigmodel reads\n"
        "                           them) instead of their standard ONNX decomposition\n"
        "  --prune METHOD:AMOUNT    l1, global-l1, random, ln-structured[-l1|-l2|-linf], wanda (needs\n"
        "                           --calibration), channels (removes output channels: the model shrinks;\n"
        "                           channels-l1, -l2 [default], -activation (needs --calibration), and\n"
        "                           -global for one threshold across layers, e.g. channels-l1-global:0.3),\n"
        "                           or N:M such as 2:4, wanda-2:4; may repeat (applied in order)\n"
        "  --calibration FILE.npy   calibration inputs (NAME=FILE.npy when the model has several inputs)\n"
        "  --exclude PATTERN        leave weights whose name matches (* and ?) untouched; may repeat\n"
        "  --report REPORT.json     write what changed as JSON\n"
        "  --quantize SCHEME        int8-dynamic, int8-static, int8-weight-only, int4-weight-only[:G], fp16, bf16\n"
        "  --scales f32|f16         weight-only schemes: scales rounded up to f16 values (the kernel then streams\n"
        "                           half the scale bytes; int4 groups of 32: 4.5 bits per weight) [default: f32]\n"
        "  --attention int8|fp32    int8-dynamic, int8-static: the fused attention's q.kT and p.v products in int8\n"
        "                           (q, k, v and the softmax's weights quantized at run time; pays where the int8\n"
        "                           GEMM outruns the fp32 one, i.e. with AVX-512 VNNI) [default: fp32]\n"
        "The output is written atomically: a temporary file, then a rename.\n");
    return a.has("help") ? 0 : 2;
  }
  const std::string level = a.get("optimize", "basic");
  if (level != "none" && level != "basic" && level != "extended")
    throw usage_error("--optimize " + level + ": unknown level (none, basic, extended)");
  const std::vector<std::string> prune_specs = a.all("prune");
  std::vector<prune_request> prunes;
  for (const auto& p : prune_specs) prunes.push_back(parse_prune(p));
  const auto excludes = a.all("exclude");
  if (a.has("scales") && !a.has("quantize")) throw usage_error("--scales needs --quantize (a weight-only scheme)");
  const std::string attention = a.get("attention", "fp32");
  if (attention != "int8" && attention != "fp32") throw usage_error("--attention " + attention + ": write int8 or fp32");
  if (a.has("attention") && a.get("quantize", "") != "int8-dynamic" && a.get("quantize", "") != "int8-static")
    throw usage_error("--attention applies to --quantize int8-dynamic and int8-static");

  const std::filesystem::path in = a.positional()[0], dst = a.get("output");
  out.progress("loading " + in.string());
  auto g = bigmodel::io::load_onnx(in);
  out.progress_done();
  const auto before = bigmodel::passes::stats_of(g);

  std::string json_passes;
  if (level != "none") {
    namespace bp = bigmodel::passes;
    const auto lvl = level == "extended" ? bp::level::extended : bp::level::basic;
    out.progress("optimizing (" + level + ")");
    const auto rep = bp::optimize(lvl, bigmodel::runtime::kernel_evaluator{}).run(g, {.verify = true, .fixed_point = true});
    out.progress_done();
    for (const auto& p : rep.passes) {
      if (p.changes == 0) continue;
      if (out.human()) std::printf("%-32s %zu changes\n", p.name.c_str(), p.changes);
      json_passes += std::string(json_passes.empty() ? "" : ",") + "{\"pass\":\"" + json_escape(p.name) +
                     "\",\"changes\":" + std::to_string(p.changes) + "}";
    }
  }
  std::vector<bigmodel::named_tensors> calibration;
  if (a.has("calibration")) {
    bigmodel::session probe(g);
    calibration = split_batches(read_feeds(a.all("calibration"), probe.input_names()), 64);
  }
  auto not_excluded = [&excludes](std::string_view name) {
    for (const auto& p : excludes)
      if (bigmodel::quant::glob_match(p, name)) return false;
    return true;
  };
  for (std::size_t i = 0; i < prunes.size(); ++i) {
    const std::string& spec = prune_specs[i];
    if (prunes[i].channels) {
      bigmodel::prune::channel_config ch{.amount = prunes[i].cfg.amount, .criterion = prunes[i].criterion, .select = not_excluded};
      ch.global = prunes[i].global;
      if (prunes[i].wanda) {
        if (calibration.empty()) throw usage_error("--prune " + spec + ": activation-aware channels need --calibration FILE.npy");
        out.progress("calibrating (activation norms)");
        ch.input_norms = bigmodel::runtime::weight_input_norms(g, calibration);
        out.progress_done();
      }
      const auto r = bigmodel::prune::remove_channels(g, ch);
      if (out.human()) {
        std::printf("prune %s: %zu layers lost channels, parameters %zu -> %zu\n", spec.c_str(), r.pruned.size(),
                    r.parameters_before, r.parameters_after);
        for (const auto& why : r.refused) std::printf("  kept %s\n", why.c_str());
      }
      json_passes += std::string(json_passes.empty() ? "" : ",") + "{\"pass\":\"prune " + json_escape(spec) +
                     "\",\"layers\":" + std::to_string(r.pruned.size()) + ",\"refused\":" + std::to_string(r.refused.size()) +
                     ",\"parameters_before\":" + std::to_string(r.parameters_before) +
                     ",\"parameters_after\":" + std::to_string(r.parameters_after) + "}";
      continue;
    }
    auto cfg = prunes[i].cfg;
    cfg.select = not_excluded;
    if (prunes[i].wanda) {
      if (calibration.empty()) throw usage_error("--prune " + spec + ": wanda needs --calibration FILE.npy");
      out.progress("calibrating (activation norms)");
      cfg.input_norms = bigmodel::runtime::weight_input_norms(g, calibration);
      out.progress_done();
    }
    const auto r = bigmodel::prune::prune_graph(g, cfg);
    const auto total = r.report.total();
    if (out.human())
      std::printf("prune %s: %zu layers, %.1f%% of their weights zero\n", spec.c_str(), r.report.layers.size(),
                  100.0 * total.sparsity());
    json_passes += std::string(json_passes.empty() ? "" : ",") + "{\"pass\":\"prune " + json_escape(spec) +
                   "\",\"layers\":" + std::to_string(r.report.layers.size()) + ",\"sparsity\":" + std::to_string(total.sparsity()) + "}";
  }
  if (a.has("quantize")) {
    const std::string scheme = a.get("quantize");
    out.progress("quantizing (" + scheme + ")");
    auto r = run_quantize(g, scheme, excludes, calibration, a.get("scales", "f32"));
    if (a.has("attention")) {  // the fused attention's products too (only int8 schemes get here)
      const auto ra = bigmodel::quant::quantize_attention(g, attention == "int8");
      r.notes.insert(r.notes.end(), ra.notes.begin(), ra.notes.end());
    }
    out.progress_done();
    if (out.human()) {
      std::printf("quantize %s: %zu layers, weights %s -> %s\n", scheme.c_str(), r.layers.size(),
                  human_bytes(r.bytes_before()).c_str(), human_bytes(r.bytes_after()).c_str());
      for (const auto& n : r.notes) std::printf("  %s\n", n.c_str());
    }
    json_passes += std::string(json_passes.empty() ? "" : ",") + "{\"pass\":\"quantize " + json_escape(scheme) +
                   "\",\"layers\":" + std::to_string(r.layers.size()) + ",\"bytes_before\":" +
                   std::to_string(r.bytes_before()) + ",\"bytes_after\":" + std::to_string(r.bytes_after()) + "}";
  }
  // Fused ops that standard ONNX lacks are written as their standard decomposition (the output loads in
  // other runtimes) unless --keep-fused asks for com.bigmodel ops. Decomposed here, not only inside
  // save_onnx, so the table below shows what the file holds.
  namespace bp = bigmodel::passes;
  const bp::export_config form{.form = a.has("keep-fused") ? bp::export_form::bigmodel_domain : bp::export_form::standard};
  (void)bp::decompose_for_export(g, form);
  out.progress("writing " + dst.string());
  bigmodel::io::save_onnx(g, dst, {}, form);
  out.progress_done();
  const auto after = bigmodel::passes::stats_of(g);
  const std::size_t in_bytes = std::filesystem::file_size(in), out_bytes = std::filesystem::file_size(dst);
  const std::string json = "{\"input\":\"" + json_escape(in.string()) + "\",\"output\":\"" + json_escape(dst.string()) +
                           "\",\"passes\":[" + json_passes + "],\"before\":" + stats_json(before, in_bytes) +
                           ",\"after\":" + stats_json(after, out_bytes) + "}";
  if (a.has("report")) {
    const std::string body = json + "\n";
    bigmodel::io::write_file_atomic(a.get("report"), std::as_bytes(std::span<const char>(body.data(), body.size())));
  }
  if (out.json) std::printf("%s\n", json.c_str());
  else if (!out.quiet) {
    print_comparison(before, after, in_bytes, out_bytes);
    std::printf("wrote %s\n", dst.string().c_str());
  }
  return 0;
}

}  // namespace cli
