#pragma once
// The whole library: #include <bigmodel/opt.hpp>.
#include "core.hpp"
#include "tensor.hpp"
#include "kernels.hpp"
#include "io.hpp"
#include "graph.hpp"
#include "runtime.hpp"
#include "passes.hpp"
#include "passes/quantize.hpp"
