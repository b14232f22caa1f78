// Pruning methods on hand-made matrices: closed-form cases, invariants, bad input.
#include <bigmodel/passes/prune.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <random>

using namespace bigmodel;
using namespace bigmodel::prune;

namespace {
tensor<float, dextents<2>> random_matrix(std::size_t rows, std::size_t cols, unsigned seed) {
  tensor<float, dextents<2>> t(rows, cols);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  for (auto& v : t) v = d(rng);
  return t;
}
const_weight_view cv(const tensor<float, dextents<2>>& t) { return const_weight_view(t.view()); }
}  // namespace

TEST_CASE("unstructured magnitude pruning removes exactly the smallest weights", "[prune]") {
  tensor<float, dextents<2>> w(2, 4);
  const float vals[8] = {0.5f, -0.1f, 3.0f, -2.0f, 0.2f, -0.05f, 1.0f, 0.3f};
  std::copy(vals, vals + 8, w.data());
  const mask m = unstructured(cv(w), 0.5);
  // Four smallest |w|: 0.05, 0.1, 0.2, 0.3.
  const std::uint8_t expect[8] = {1, 0, 1, 1, 0, 0, 1, 0};
  for (std::size_t i = 0; i < 8; ++i) CHECK(m.data()[i] == expect[i]);
  CHECK(count_kept(m) == 4);

  CHECK(count_kept(unstructured(cv(w), 0.0)) == 8);
  CHECK(count_kept(unstructured(cv(w), 1.0)) == 0);
  // round-half-even of amount * n, as torch.nn.utils.prune: 0.3 * 8 = 2.4 -> 2; 0.5625 * 8 = 4.5 -> 4.
  CHECK(count_kept(unstructured(cv(w), 0.3)) == 6);
  CHECK(count_kept(unstructured(cv(w), 0.5625)) == 4);

  const mask t = by_threshold(cv(w), 0.25f);
  CHECK(count_kept(t) == 5);
}

TEST_CASE("invalid amounts and N:M shapes are errors", "[prune]") {
  const auto w = random_matrix(4, 8, 1);
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    CHECK_THROWS_AS(unstructured(cv(w), bad), error);
    CHECK_THROWS_AS(ln_structured(cv(w), bad, 2.0, 0), error);
  }
  CHECK_THROWS_AS(n_m(cv(w), 3, 2), error);   // N > M
  CHECK_THROWS_AS(n_m(cv(w), 2, 3), error);   // M does not divide 8
  CHECK_THROWS_AS(n_m(cv(w), 1, 0), error);   // M = 0
  CHECK_THROWS_AS(ln_structured(cv(w), 0.5, 0.0, 0), error);
  CHECK_THROWS_AS(ln_structured(cv(w), 0.5, 2.0, 2), error);
  try {
    (void)n_m(cv(w), 2, 3, magnitude{}, "fc1.weight");
  } catch (const error& e) {
    CHECK(e.id() == "prune.n_m");
    CHECK(e.context() == "fc1.weight");
  }
  auto nan_w = w;
  nan_w(1, 1) = std::nanf("");
  CHECK_THROWS_AS(unstructured(cv(nan_w), 0.5), error);
}

TEST_CASE("N:M keeps at most N of every M consecutive inputs, the largest ones", "[prune]") {
  const auto w = random_matrix(16, 32, 2);
  for (auto [n, m] : {std::pair<std::size_t, std::size_t>{2, 4}, {4, 8}, {1, 4}, {0, 4}, {4, 4}}) {
    const mask k = n_m(cv(w), n, m);
    for (std::size_t i = 0; i < 16; ++i)
      for (std::size_t g = 0; g < 32; g += m) {
        std::size_t kept = 0;
        float min_kept = INFINITY, max_pruned = 0.0f;
        for (std::size_t j = g; j < g + m; ++j) {
          kept += k(i, j);
          if (k(i, j)) min_kept = std::min(min_kept, std::fabs(w(i, j)));
          else max_pruned = std::max(max_pruned, std::fabs(w(i, j)));
        }
        REQUIRE(kept == n);
        if (n > 0 && n < m) REQUIRE(min_kept >= max_pruned);
      }
  }
}

TEST_CASE("Ln-structured removes whole rows or columns by norm", "[prune]") {
  tensor<float, dextents<2>> w(4, 3);
  // Row norms: L1 {3, 0.3, 6, 1.5}; Linf {1, 0.1, 2, 1.5}.
  const float vals[12] = {1, 1, 1, 0.1f, 0.1f, 0.1f, 2, 2, 2, 1.5f, 0, 0};
  std::copy(vals, vals + 12, w.data());
  const mask l1 = ln_structured(cv(w), 0.5, 1.0, 0);
  CHECK(l1(1, 0) == 0);
  CHECK(l1(3, 2) == 0);
  CHECK(l1(0, 0) == 1);
  CHECK(l1(2, 1) == 1);
  const mask linf = ln_structured(cv(w), 0.5, INFINITY, 0);
  CHECK(linf(1, 0) == 0);
  CHECK(linf(0, 0) == 0);  // max norm 1 < 1.5
  CHECK(linf(3, 0) == 1);
  const mask cols = ln_structured(cv(w), 1.0 / 3.0, 2.0, 1);  // one column: the smallest L2 (columns 1, 2 tie -> 1)
  std::size_t pruned_cols = 0;
  for (std::size_t j = 0; j < 3; ++j) pruned_cols += cols(0, j) == 0 ? 1 : 0;
  CHECK(pruned_cols == 1);
  CHECK(cols(0, 0) == 1);
}

TEST_CASE("random pruning is seeded and exact in count", "[prune]") {
  const auto w = random_matrix(10, 10, 3);
  const mask a = random_unstructured(cv(w), 0.37, 42);
  const mask b = random_unstructured(cv(w), 0.37, 42);
  const mask c = random_unstructured(cv(w), 0.37, 43);
  CHECK(count_kept(a) == 63);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  CHECK_FALSE(std::equal(a.begin(), a.end(), c.begin()));
}

TEST_CASE("global pruning ranks across layers", "[prune]") {
  tensor<float, dextents<2>> big(2, 2), small(2, 2);
  big.fill(10.0f);
  small.fill(0.1f);
  small(0, 0) = 20.0f;
  const std::vector<const_weight_view> ws{cv(big), cv(small)};
  const auto masks = global_unstructured(std::span<const const_weight_view>(ws), 0.375);  // 3 of 8
  CHECK(count_kept(masks[0]) == 4);
  CHECK(count_kept(masks[1]) == 1);
  CHECK(masks[1](0, 0) == 1);
}

TEST_CASE("activation-aware scores change the choice; user scores plug in", "[prune]") {
  tensor<float, dextents<2>> w(1, 4);
  const float vals[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  std::copy(vals, vals + 4, w.data());
  // Input 3 is never active, input 0 is large: Wanda keeps 0 and prunes 3, unlike magnitude.
  tensor<float, dextents<2>> x(2, 4);
  const float xs[8] = {10, 1, 1, 0, 10, 1, 1, 0};
  std::copy(xs, xs + 8, x.data());
  const wanda score = wanda::from_activations(x.view());
  CHECK(score.input_norms[0] == Approx(std::sqrt(200.0f)));
  const mask mw = per_row(cv(w), 0.5, score);
  const mask mm = per_row(cv(w), 0.5);
  CHECK(mw(0, 0) == 1);
  CHECK(mw(0, 3) == 0);
  CHECK(mm(0, 0) == 0);
  CHECK(mm(0, 3) == 1);
  // A user functor: prune by position, ignoring values.
  auto by_column = [](std::size_t, std::size_t j, float) { return static_cast<float>(j); };
  const mask mu = unstructured(cv(w), 0.25, by_column);
  CHECK(mu(0, 0) == 0);
  CHECK(count_kept(mu) == 3);
}

TEST_CASE("masks apply through strided and transposed views", "[prune]") {
  auto w = random_matrix(3, 4, 5);  // stored [in = 3, out = 4]: prune per output row through the transpose
  const weight_view t = transposed(weight_view(w.view()));
  CHECK(t.extent(0) == 4);
  const mask m = n_m(const_weight_view(t), 1, 3);
  apply_mask(t, m);
  for (std::size_t out = 0; out < 4; ++out) {
    std::size_t nz = 0;
    for (std::size_t in = 0; in < 3; ++in) nz += w(in, out) != 0.0f ? 1 : 0;
    CHECK(nz == 1);
  }
  const auto row = measure_sparsity("w", const_weight_view(weight_view(w.view())));
  CHECK(row.zeros == 8);
  CHECK(row.sparsity() == Approx(8.0 / 12.0));
}
