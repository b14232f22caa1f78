#pragma once
// Module header: passes as values and pipelines, reports, pruning, graph optimizations (folding,
// elimination, fusion), optimize() presets and the export decomposition.
#include "passes/pass.hpp"
#include "passes/report.hpp"
#include "passes/prune.hpp"
#include "passes/fuse/pass_object.hpp"
#include "passes/fuse/fold_constants.hpp"
#include "passes/fuse/dead_nodes.hpp"
#include "passes/fuse/identity.hpp"
#include "passes/fuse/cse.hpp"
#include "passes/fuse/gemm.hpp"
#include "passes/fuse/batchnorm.hpp"
#include "passes/fuse/activation.hpp"
#include "passes/fuse/layer_norm.hpp"
#include "passes/fuse/gelu.hpp"
#include "passes/fuse/attention.hpp"
#include "passes/fuse/decompose.hpp"
#include "passes/optimize.hpp"
