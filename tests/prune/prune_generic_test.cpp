// Parameter-level pruning on a user's own model type: a plain struct of Eigen matrices, adapted with an
// ADL visit_parameters in the user's namespace -- the struct itself is not touched.
#include <bigmodel/passes/prune.hpp>

#include <catch2/catch.hpp>

namespace user {
struct mlp {
  Eigen::MatrixXf w1, w2;  // [out, in], PyTorch's convention
  Eigen::VectorXf b1;      // not visited: biases are not pruned
};
template <class F>
void visit_parameters(mlp& m, F&& f) {
  f("w1", m.w1);
  f("w2", m.w2);
}
}  // namespace user

static_assert(bigmodel::parameterized<user::mlp>);

TEST_CASE("prune_parameters works on a user struct of Eigen matrices", "[prune][generic]") {
  user::mlp m;
  m.w1 = Eigen::MatrixXf::Random(8, 16);
  m.w2 = Eigen::MatrixXf::Random(4, 8);
  using namespace bigmodel::prune;
  SECTION("2:4 in place") {
    const auto r = prune_parameters(m, {.how = method::n_m, .n = 2, .m = 4});
    CHECK(r.report.total().sparsity() == Approx(0.5));
    for (Eigen::Index i = 0; i < m.w1.rows(); ++i)
      for (Eigen::Index g = 0; g < m.w1.cols(); g += 4) CHECK((m.w1.row(i).segment(g, 4).array() != 0).count() == 2);
  }
  SECTION("masks only, applied later") {
    const Eigen::MatrixXf before = m.w1;
    const auto r = prune_parameters(m, {.how = method::l1_unstructured, .amount = 0.25, .apply = false});
    CHECK(m.w1 == before);
    CHECK(count_kept(r.masks.at("w1")) == 96);
    apply_mask(*weight_matrix(m.w1), r.masks.at("w1"));
    CHECK((m.w1.array() == 0).count() == 32);
  }
  SECTION("selection by name") {
    const auto r = prune_parameters(m, {.how = method::l1_unstructured, .amount = 0.5,
                                        .select = [](std::string_view n) { return n == "w2"; }});
    CHECK(r.masks.size() == 1);
    CHECK((m.w1.array() == 0).count() == 0);
    CHECK((m.w2.array() == 0).count() == 16);
  }
}
