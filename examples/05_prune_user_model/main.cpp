// Pruning a user's own model type: a plain struct of Eigen matrices that knows nothing of bigmodel,
// adapted by a bigmodel::graph_traits specialization (the struct is not edited), then pruned 2:4 and by
// global magnitude with masks kept aside -- the same algorithms that prune ONNX graphs.
#include <bigmodel/passes/prune.hpp>

#include <Eigen/Core>
#include <cstdio>

// --- the user's code, untouched ---
namespace user {
struct two_layer_mlp {
  Eigen::MatrixXf w1 = Eigen::MatrixXf::Random(32, 16);  // [out, in]
  Eigen::VectorXf b1 = Eigen::VectorXf::Zero(32);
  Eigen::MatrixXf w2 = Eigen::MatrixXf::Random(4, 32);
  Eigen::VectorXf forward(const Eigen::VectorXf& x) const { return w2 * (w1 * x + b1).cwiseMax(0.0f); }
};
}  // namespace user

// --- the adapter: which members are prunable weights ---
template <>
struct bigmodel::graph_traits<user::two_layer_mlp> {
  template <class F>
  static void visit_parameters(user::two_layer_mlp& m, F&& f) {
    f("w1", m.w1);
    f("w2", m.w2);
  }
};

int main() {
  namespace pr = bigmodel::prune;
  user::two_layer_mlp model;
  const Eigen::VectorXf x = Eigen::VectorXf::Random(16);
  const Eigen::VectorXf before = model.forward(x);

  // Masks only, applied later (e.g. after inspecting them).
  const auto masks = pr::prune_parameters(model, {.how = pr::method::global_unstructured, .amount = 0.3, .apply = false});
  std::printf("global 30%% (masks only): w1 keeps %zu of %zu, w2 keeps %zu of %zu\n", pr::count_kept(masks.masks.at("w1")),
              masks.masks.at("w1").size(), pr::count_kept(masks.masks.at("w2")), masks.masks.at("w2").size());

  // 2:4 in place.
  const auto r = pr::prune_parameters(model, {.how = pr::method::n_m, .n = 2, .m = 4});
  for (const auto& l : r.report.layers) std::printf("2:4 %s: %.0f%% zero\n", l.name.c_str(), 100.0 * l.sparsity());
  const Eigen::VectorXf after = model.forward(x);
  std::printf("output change after 2:4: relative L2 %.3f\n", static_cast<double>((after - before).norm() / before.norm()));
  return r.report.total().sparsity() == 0.5 ? 0 : 1;
}
