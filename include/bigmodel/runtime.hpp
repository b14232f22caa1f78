#pragma once
// Module header: bigmodel's runtime -- session, kernel context, the per-op reference kernels, the
// constant evaluator used by constant folding, output checks for pipelines, and calibration.
#include "runtime/calibration.hpp"
#include "runtime/constant_evaluator.hpp"
#include "runtime/kernel_context.hpp"
#include "runtime/output_check.hpp"
#include "runtime/session.hpp"
