#pragma once
// Module header: bigmodel's core (errors, CPU detection, dtypes, quantization parameters).
#include "core/config.hpp"
#include "core/cpu.hpp"
#include "core/error.hpp"
