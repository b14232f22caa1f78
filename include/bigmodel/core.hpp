#pragma once
// Module header: bigmodel's core (errors, CPU detection, dtypes, quantization parameters).
#include "core/config.hpp"
#include "core/cpu.hpp"
#include "core/dtype.hpp"
#include "core/half.hpp"
#include "core/half_convert.hpp"
#include "core/quant.hpp"
#include "core/aligned_buffer.hpp"
#include "core/error.hpp"
