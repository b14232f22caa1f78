#pragma once
// A small user IR, as a user's project might have it. bigmodel does not know it, and the example does
// not edit it: main.cpp adapts it from outside.

#include <Eigen/Core>

#include <string>
#include <vector>

namespace acme {

enum class kind { input, dense, relu, identity, output };

struct layer {
  kind k;
  std::string name;
  std::vector<int> args;  // indices of the layers it reads
  bool removed = false;
};

struct network {
  std::vector<layer> layers;
};

// Weights kept as a plain struct of Eigen matrices.
struct mlp_weights {
  Eigen::MatrixXf w1, w2;
  Eigen::VectorXf b1, b2;
};

}  // namespace acme
