#pragma once
// bigmodel kernels: the int8 GEMM (packing, fused epilogues, ISA dispatch, threading hook) and the
// dynamic-quantization Linear built on it.
#include "kernels/epilogue.hpp"
#include "kernels/gemm.hpp"
#include "kernels/isa.hpp"
#include "kernels/linear_dynamic.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/parallel_for.hpp"
#include "kernels/quantize_pack.hpp"
#include "kernels/reference_gemm.hpp"
#include "kernels/status.hpp"
#include "kernels/weight_only.hpp"
