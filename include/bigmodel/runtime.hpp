#pragma once
// Module header: bigmodel's runtime -- session, kernel context, the per-op reference kernels.
#include "runtime/kernel_context.hpp"
#include "runtime/session.hpp"
