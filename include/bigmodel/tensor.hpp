#pragma once
// Module header: compile-time-typed tensors, views, layouts, quantized tensors and Eigen interop.
#include "tensor/eigen.hpp"
#include "tensor/extents.hpp"
#include "tensor/layout.hpp"
#include "tensor/qtensor.hpp"
#include "tensor/tensor.hpp"
#include "tensor/tensor_view.hpp"
