// bigmodel-opt: inspect, optimize, run, evaluate and benchmark ONNX models with bigmodel.
// Every error a user can make ends with one line on stderr and a non-zero exit code.

#include <bigmodel/core/error.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "args.hpp"
#include "inspect.hpp"
#include "optimize.hpp"
#include "run_eval.hpp"
#include "threads.hpp"

namespace {
void usage() {
  std::printf(
      "usage: bigmodel-opt COMMAND [options]   (bigmodel-opt COMMAND --help for each)\n"
      "commands:\n"
      "  inspect MODEL.onnx                         inputs/outputs, ops, parameters, sparsity, quantization\n"
      "  optimize IN.onnx -o OUT.onnx [...]         optimize, prune, quantize; before/after table\n"
      "  run MODEL.onnx --input NAME=X.npy ...      run; outputs written as NAME.npy\n"
      "  eval MODEL.onnx --input X.npy --labels Y.npy [--reference OTHER.onnx]\n"
      "  bench MODEL.onnx --input X.npy [--runs R] [--threads N] [--profile]   latency, throughput, profile\n"
      "global options: --quiet (no human output), --json (machine-readable output)\n");
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage();
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  cli::output out;
  for (const auto& a : args) {
    out.quiet = out.quiet || a == "--quiet";
    out.json = out.json || a == "--json";
  }
  try {
    cli::single_threaded();  // run and bench take --threads
    if (command == "inspect") return cli::cmd_inspect(args, out);
    if (command == "optimize") return cli::cmd_optimize(args, out);
    if (command == "run") return cli::cmd_run(args, out);
    if (command == "eval") return cli::cmd_eval(args, out);
    if (command == "bench") return cli::cmd_bench(args, out);
    std::fprintf(stderr, "bigmodel-opt: unknown command '%s' (try bigmodel-opt --help)\n", command.c_str());
    return 2;
  } catch (const cli::usage_error& e) {
    std::fprintf(stderr, "bigmodel-opt %s: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const bigmodel::error& e) {
    std::fprintf(stderr, "bigmodel-opt %s: error: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "bigmodel-opt %s: error: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bigmodel-opt %s: error: %s\n", command.c_str(), e.what());
    return 1;
  }
}
