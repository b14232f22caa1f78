// The library-API side of tests/cli/optimize_api_test.cmake: applies, through bigmodel's own API, what a
// bigmodel-opt optimize command line asks for, and saves the result. The test then checks that the
// CLI's file is byte for byte this one.
//
//   bigmodel-opt-api-check mlp IN.onnx OUT.onnx      # = optimize --optimize basic --prune l1:0.5
//                                                    #   --exclude 'fc3*' --quantize int8-dynamic
//   bigmodel-opt-api-check encoder IN.onnx OUT.onnx  # = optimize --optimize extended --prune 2:4
//                                                    #   --quantize int8-weight-only

#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes.hpp>
#include <bigmodel/passes/quantize.hpp>
#include <bigmodel/runtime/constant_evaluator.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace bp = bigmodel::passes;
namespace pr = bigmodel::prune;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bigmodel-opt-api-check mlp|encoder IN.onnx OUT.onnx\n");
    return 2;
  }
  const std::string which = argv[1];
  try {
    auto g = bigmodel::io::load_onnx(argv[2]);
    // basic for the MLP: extended would fuse its ReLUs into the Gemms, which dynamic quantization leaves fp32.
    const auto level = which == "mlp" ? bp::level::basic : bp::level::extended;
    (void)bp::optimize(level, bigmodel::runtime::kernel_evaluator{}).run(g, {.verify = true, .fixed_point = true});
    if (which == "mlp") {
      (void)pr::prune_graph(g, {.how = pr::method::l1_unstructured, .amount = 0.5,
                                .select = [](std::string_view w) { return !bigmodel::quant::glob_match("fc3*", w); }});
      bigmodel::quant::dynamic_config dyn;
      dyn.layers.exclude = {"fc3*"};
      g |= bp::quantize_dynamic(dyn);
    } else if (which == "encoder") {
      (void)pr::prune_graph(g, {.how = pr::method::n_m, .n = 2, .m = 4});
      g |= bp::quantize_weights<bigmodel::per_channel<0>, std::int8_t>();
    } else {
      std::fprintf(stderr, "unknown case '%s'\n", which.c_str());
      return 2;
    }
    bigmodel::io::save_onnx(g, argv[3]);  // standard ONNX: fused ops decomposed on the way out
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bigmodel-opt-api-check: %s\n", e.what());
    return 1;
  }
}
