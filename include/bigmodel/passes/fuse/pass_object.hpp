#pragma once
// The two forms of a pass value: `fold_batchnorm(g)` runs now, `fold_batchnorm()` returns a pass for
// pipelines (`g |= fold_batchnorm() | fuse_activation()`); both take an optional aggregate config:
// `fuse_activation(g, {.clip = false})`, `fuse_activation({.clip = false})`.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../pass.hpp"

namespace bigmodel::passes {

// What a rewrite did: how many rewrites, and what it refused and why (report notes).
struct rewrite_result {
  std::size_t changes = 0;
  std::vector<std::string> notes;
  rewrite_result& operator+=(const rewrite_result& o) {
    changes += o.changes;
    notes.insert(notes.end(), o.notes.begin(), o.notes.end());
    return *this;
  }
};

struct no_config {};

// Impl provides `static constexpr std::string_view name` and `static rewrite_result apply(G&, const Config&)`.
template <class Impl, class Config = no_config>
struct pass_fn {
  using config_type = Config;

  template <class G>
    requires requires(G& g, const Config& c) { Impl::apply(g, c); }
  rewrite_result operator()(G& g, const Config& cfg = {}) const {
    return Impl::apply(g, cfg);
  }

  [[nodiscard]] auto operator()(Config cfg = {}) const {
    return make_pass(std::string(Impl::name), [cfg = std::move(cfg)](auto& g) -> decltype(Impl::apply(g, cfg)) {
      return Impl::apply(g, cfg);
    });
  }
};

}  // namespace bigmodel::passes
