#pragma once
// Module header: bigmodel's core (errors, CPU detection, dtypes, quantization parameters).
#include "core/config.hpp"
#include "core/cpu.hpp"
#include "core/dtype.hpp"
#include "core/half.hpp"
#include "core/error.hpp"
