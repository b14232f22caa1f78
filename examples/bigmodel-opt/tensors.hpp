#pragma once
// .npy files <-> the runtime's tensors, and NAME=FILE.npy feeds.

#include <bigmodel/io/npy.hpp>
#include <bigmodel/runtime/session.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "args.hpp"

namespace cli {

inline bigmodel::dynamic_tensor to_tensor(const bigmodel::io::npy_array& a) {
  bigmodel::dynamic_tensor t(a.type, a.shape);
  if (!a.data.empty()) std::memcpy(t.mutable_data(), a.data.data(), a.data.size());
  return t;
}

inline bigmodel::io::npy_array to_npy(const bigmodel::dynamic_tensor& t) {
  bigmodel::io::npy_array a;
  a.type = t.type();
  a.shape = t.shape();
  a.data.resize(t.bytes());
  if (t.bytes() != 0) std::memcpy(a.data.data(), t.data(), t.bytes());
  return a;
}

// Parses NAME=FILE.npy (or just FILE.npy when the model has one input).
inline bigmodel::named_tensors read_feeds(const std::vector<std::string>& specs,
                                          const std::vector<std::string>& input_names) {
  if (specs.empty()) throw usage_error("no input given: use --input NAME=FILE.npy");
  bigmodel::named_tensors feeds;
  for (const auto& s : specs) {
    const auto eq = s.find('=');
    std::string name, file;
    if (eq == std::string::npos) {
      if (input_names.size() != 1)
        throw usage_error("the model has " + std::to_string(input_names.size()) + " inputs: write --input NAME=FILE.npy");
      name = input_names[0];
      file = s;
    } else {
      name = s.substr(0, eq);
      file = s.substr(eq + 1);
    }
    bool known = false;
    for (const auto& n : input_names) known = known || n == name;
    if (!known) {
      std::string list;
      for (const auto& n : input_names) list += (list.empty() ? "" : ", ") + n;
      throw usage_error("the model has no input '" + name + "' (inputs: " + list + ")");
    }
    feeds.emplace(name, to_tensor(bigmodel::io::read_npy(file)));
  }
  return feeds;
}

// Splits a batch of feeds (first axis) into chunks of at most `rows`: calibration and long evaluations
// run in bounded memory.
inline std::vector<bigmodel::named_tensors> split_batches(const bigmodel::named_tensors& feeds, std::int64_t rows) {
  std::int64_t n = -1;
  for (const auto& [name, t] : feeds) {
    if (t.rank() == 0) throw usage_error("input '" + name + "' has no batch axis");
    if (n >= 0 && t.dim(0) != n) throw usage_error("inputs disagree on the batch size");
    n = t.dim(0);
  }
  std::vector<bigmodel::named_tensors> out;
  for (std::int64_t b = 0; b < n; b += rows) {
    const std::int64_t e = std::min(n, b + rows);
    bigmodel::named_tensors part;
    for (const auto& [name, t] : feeds) {
      auto shape = t.shape();
      shape[0] = e - b;
      bigmodel::dynamic_tensor p(t.type(), shape);
      const std::size_t row_bytes = t.bytes() / static_cast<std::size_t>(t.dim(0));
      std::memcpy(p.mutable_data(), t.data() + static_cast<std::size_t>(b) * row_bytes,
                  static_cast<std::size_t>(e - b) * row_bytes);
      part.emplace(name, std::move(p));
    }
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace cli
