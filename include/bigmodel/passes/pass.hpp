#pragma once
// Passes are values. A pass wraps a function `f(G&)` that rewrites a model in place and returns how many
// changes it made (or void). Passes compose with `|` into pipelines; `g |= a | b` runs them in place.
//
//   auto p = passes::fold_constants() | passes::fuse_gemm_activation();
//   g |= p;                                             // run, discard the report
//   auto rep = p.run(g, {.verify = true});              // run, keep the report
//   auto rep = p.run(g, {.fixed_point = true}, check);  // repeat until nothing changes; check outputs
//
// `check(g)` (optional) returns an error measure of the model's outputs against the original's (the
// runtime provides one from sample inputs); a pass after which it exceeds `tolerance` is named in the
// error thrown, so a broken pass is found at once.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/error.hpp"
#include "report.hpp"

namespace bigmodel::passes {

struct run_options {
  bool verify = false;           // validate the graph after every pass
  bool fixed_point = false;      // repeat the whole pipeline until no pass changes anything
  std::size_t max_iterations = 16;
  double tolerance = 1e-5;       // for the output check
  bool collect_stats = true;     // op histograms and parameter counts before/after each pass
};

namespace detail {
// Structural validation when the model type offers one (member validate(), ADL validate(g), or the
// library graph's validate_structure).
template <class G>
void validate_if_possible(const G& g) {
  if constexpr (requires { g.validate(); }) g.validate();
  else if constexpr (requires { validate(g); }) validate(g);
  else if constexpr (requires { validate_structure(g); }) validate_structure(g);
}
}  // namespace detail

template <class Fn>
class pass {
 public:
  pass(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  // Runs now and reports.
  template <class G>
    requires std::invocable<const Fn&, G&>
  pass_report operator()(G& g, const run_options& opt = {}) const {
    pass_report r;
    r.name = name_;
    if (opt.collect_stats) r.before = stats_of(g);
    const auto t0 = std::chrono::steady_clock::now();
    using result = std::invoke_result_t<const Fn&, G&>;
    if constexpr (std::is_void_v<result>) {
      fn_(g);
      r.changes = 1;
    } else if constexpr (std::is_same_v<result, bool>) {
      r.changes = fn_(g) ? 1 : 0;
    } else if constexpr (requires(result x) { x.changes; x.notes; }) {
      auto out = fn_(g);
      r.changes = out.changes;
      r.notes = std::move(out.notes);
    } else {
      r.changes = static_cast<std::size_t>(fn_(g));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (opt.collect_stats) r.after = stats_of(g);
    if (opt.verify) {
      try {
        detail::validate_if_possible(g);
      } catch (const error& e) {
        throw error("pass.invalid_graph", "pass '" + name_ + "' left an invalid graph: " + e.what(), name_);
      }
    }
    return r;
  }

  template <class G>
  pipeline_report run(G& g, const run_options& opt = {}) const {
    return make_pipeline().run(g, opt);
  }
  template <class G, class Check>
  pipeline_report run(G& g, const run_options& opt, Check&& check) const {
    return make_pipeline().run(g, opt, std::forward<Check>(check));
  }

 private:
  auto make_pipeline() const;
  std::string name_;
  Fn fn_;
};

template <class... Passes>
class pipeline {
 public:
  explicit pipeline(std::tuple<Passes...> p) : passes_(std::move(p)) {}

  template <class G>
  pipeline_report run(G& g, const run_options& opt = {}) const {
    return run(g, opt, nullptr);
  }

  // check: callable (const G&) -> double (error of the outputs vs the original), or nullptr.
  template <class G, class Check>
  pipeline_report run(G& g, const run_options& opt, Check&& check) const {
    pipeline_report rep;
    for (rep.iterations = 1;; ++rep.iterations) {
      std::size_t changed = 0;
      std::apply([&](const auto&... p) { ((changed += run_one(p, g, opt, check, rep)), ...); }, passes_);
      if (!opt.fixed_point || changed == 0 || rep.iterations >= opt.max_iterations) break;
    }
    return rep;
  }

  [[nodiscard]] const std::tuple<Passes...>& passes() const noexcept { return passes_; }

 private:
  template <class P, class G, class Check>
  static std::size_t run_one(const P& p, G& g, const run_options& opt, Check& check, pipeline_report& rep) {
    rep.passes.push_back(p(g, opt));
    if constexpr (!std::is_same_v<std::remove_cvref_t<Check>, std::nullptr_t>) {
      const double err = check(static_cast<const G&>(g));
      if (!(err <= opt.tolerance))
        throw error("pass.output_mismatch",
                    "outputs differ from the original by " + std::to_string(err) + " (tolerance " +
                        std::to_string(opt.tolerance) + ") after pass '" + p.name() + "'",
                    p.name());
    }
    return rep.passes.back().changes;
  }

  std::tuple<Passes...> passes_;
};

template <class Fn>
auto pass<Fn>::make_pipeline() const {
  return pipeline<pass<Fn>>(std::tuple<pass<Fn>>(*this));
}

template <class T>
inline constexpr bool is_pass_v = false;
template <class Fn>
inline constexpr bool is_pass_v<pass<Fn>> = true;
template <class T>
inline constexpr bool is_pipeline_v = false;
template <class... P>
inline constexpr bool is_pipeline_v<pipeline<P...>> = true;

// Composition.
template <class A, class B>
[[nodiscard]] auto operator|(pass<A> a, pass<B> b) {
  return pipeline<pass<A>, pass<B>>({std::move(a), std::move(b)});
}
template <class... P, class B>
[[nodiscard]] auto operator|(pipeline<P...> a, pass<B> b) {
  return pipeline<P..., pass<B>>(std::tuple_cat(a.passes(), std::tuple<pass<B>>(std::move(b))));
}
template <class A, class... P>
[[nodiscard]] auto operator|(pass<A> a, pipeline<P...> b) {
  return pipeline<pass<A>, P...>(std::tuple_cat(std::tuple<pass<A>>(std::move(a)), b.passes()));
}
template <class... P, class... Q>
[[nodiscard]] auto operator|(pipeline<P...> a, pipeline<Q...> b) {
  return pipeline<P..., Q...>(std::tuple_cat(a.passes(), b.passes()));
}

// In place: g |= a | b. Runs type-preserving passes; the report is dropped (use run() to keep it).
template <class G, class P>
  requires(is_pass_v<std::remove_cvref_t<P>> || is_pipeline_v<std::remove_cvref_t<P>>) &&
          requires(const P& p, G& g) { p.run(g); }
G& operator|=(G& g, const P& p) {
  (void)p.run(g);
  return g;
}

// Makes a pass from a name and a callable.
template <class Fn>
[[nodiscard]] auto make_pass(std::string name, Fn fn) {
  return pass<Fn>(std::move(name), std::move(fn));
}

}  // namespace bigmodel::passes
