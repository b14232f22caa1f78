// bigmodel-serve: serves ONNX models over HTTP (Open Inference Protocol / KServe v2 REST) with bigmodel's
// runtime. Stops cleanly on SIGINT / SIGTERM: running requests finish, then the process exits 0.

#include <bigmodel/core/error.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <pthread.h>

#include "../bigmodel-opt/args.hpp"
#include "server.hpp"

namespace {

void usage() {
  std::printf(
      "usage: bigmodel-serve --model NAME=PATH.onnx ... [options]\n"
      "  --model NAME=PATH.onnx     a model to serve as /v2/models/NAME (may repeat)\n"
      "  --host ADDRESS             address to listen on [default: 127.0.0.1]\n"
      "  --port N                   port; 0 picks a free one and prints it [default: 8000]\n"
      "  --sessions K               requests of one model that run at once (sessions per model) [default: 2]\n"
      "  --http-threads T           connections served at once [default: 8]\n"
      "  --max-request-bytes B      larger request bodies get 413 [default: 67108864]\n"
      "Routes: GET /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready;\n"
      "        POST /v2/models/NAME/infer. Stop with Ctrl-C or SIGTERM.\n");
}

long positive(const cli::args& a, const char* key, long fallback, long min) {
  const long v = a.get_int(key, fallback);
  if (v < min) throw cli::usage_error(std::string("--") + key + " must be >= " + std::to_string(min));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> argv_list(argv + 1, argv + argc);
    const cli::args a(argv_list, {{"help", false}, {"model", true}, {"host", true}, {"port", true}, {"sessions", true},
                                  {"http-threads", true}, {"max-request-bytes", true}});
    if (a.has("help")) {
      usage();
      return 0;
    }
    if (!a.positional().empty()) throw cli::usage_error("unexpected argument '" + a.positional()[0] + "'");
    if (!a.has("model")) throw cli::usage_error("no model given: use --model NAME=PATH.onnx (see --help)");
    serve::server_options opt;
    for (const auto& spec : a.all("model")) {
      const auto eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw cli::usage_error("--model " + spec + ": write NAME=PATH.onnx");
      opt.models.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
    }
    opt.host = a.get("host", opt.host);
    const long port = a.get_int("port", opt.port);
    if (port < 0 || port > 65535) throw cli::usage_error("--port must be in [0, 65535]");
    opt.port = static_cast<int>(port);
    opt.sessions = static_cast<std::size_t>(positive(a, "sessions", 2, 1));
    opt.http_threads = static_cast<std::size_t>(positive(a, "http-threads", 8, 1));
    opt.max_request_bytes = static_cast<std::size_t>(positive(a, "max-request-bytes", 64L << 20, 1));

    // Signals go to a waiting main thread (blocked in every thread, which inherit the mask), not to
    // whichever server thread happens to run: shutdown is ordinary code, no async-signal-safety traps.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    serve::server s(opt);
    const int bound = s.start();
    std::printf("bigmodel-serve: %zu model(s) on http://%s:%d\n", opt.models.size(), opt.host.c_str(), bound);
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::printf("bigmodel-serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    s.stop();
    return 0;
  } catch (const cli::usage_error& e) {
    std::fprintf(stderr, "bigmodel-serve: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bigmodel-serve: error: %s\n", e.what());
    return 1;
  }
}
