#pragma once
// Output helpers: aligned tables for people, JSON for scripts, progress only on a terminal.

#include <bigmodel/passes/report.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace cli {

struct output {
  bool quiet = false;
  bool json = false;
  [[nodiscard]] bool human() const { return !quiet && !json; }
  // Progress lines go to stderr and only when it is a terminal.
  void progress(const std::string& what) const {
    if (human() && ::isatty(2)) std::fprintf(stderr, "\r\033[K%s", what.c_str());
  }
  void progress_done() const {
    if (human() && ::isatty(2)) std::fprintf(stderr, "\r\033[K");
  }
};

inline std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else o += c;
  }
  return o;
}

inline std::string human_bytes(std::size_t b) {
  char buf[32];
  if (b >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1 << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%zu B", b);
  return buf;
}

// Before/after table of two model statistics.
inline void print_comparison(const bigmodel::passes::graph_stats& a, const bigmodel::passes::graph_stats& b,
                             std::size_t file_a, std::size_t file_b) {
  std::map<std::string, std::pair<std::size_t, std::size_t>> ops;
  for (const auto& [op, n] : a.ops) ops[op].first = n;
  for (const auto& [op, n] : b.ops) ops[op].second = n;
  std::printf("%-28s %12s %12s\n", "", "before", "after");
  for (const auto& [op, n] : ops) std::printf("  %-26s %12zu %12zu\n", op.c_str(), n.first, n.second);
  std::printf("%-28s %12zu %12zu\n", "nodes", a.nodes, b.nodes);
  std::printf("%-28s %12zu %12zu\n", "parameters", a.parameters, b.parameters);
  std::printf("%-28s %12s %12s\n", "parameter bytes", human_bytes(a.parameter_bytes).c_str(), human_bytes(b.parameter_bytes).c_str());
  std::printf("%-28s %12s %12s\n", "bytes on disk", human_bytes(file_a).c_str(), human_bytes(file_b).c_str());
  auto sp = [](const bigmodel::passes::graph_stats& s) {
    return s.parameters ? 100.0 * static_cast<double>(s.zero_parameters) / static_cast<double>(s.parameters) : 0.0;
  };
  std::printf("%-28s %11.1f%% %11.1f%%\n", "sparsity (zero parameters)", sp(a), sp(b));
}

inline std::string stats_json(const bigmodel::passes::graph_stats& s, std::size_t file_bytes) {
  std::string j = "{\"nodes\":" + std::to_string(s.nodes) + ",\"parameters\":" + std::to_string(s.parameters) +
                  ",\"parameter_bytes\":" + std::to_string(s.parameter_bytes) +
                  ",\"zero_parameters\":" + std::to_string(s.zero_parameters) +
                  ",\"file_bytes\":" + std::to_string(file_bytes) + ",\"ops\":{";
  bool first = true;
  for (const auto& [op, n] : s.ops) {
    j += (first ? "\"" : ",\"") + json_escape(op) + "\":" + std::to_string(n);
    first = false;
  }
  return j + "}}";
}

}  // namespace cli
