// A rank-2 tensor indexed with three indices must not compile.
#include <bigmodel/tensor/tensor.hpp>

int main() {
  bigmodel::tensor<float, bigmodel::extents<2, 3>> t;
#ifdef BIGMODEL_COMPILE_FAIL_CONTROL
  return static_cast<int>(t(1, 2));
#else
  return static_cast<int>(t(1, 2, 0));
#endif
}
