#pragma once
// Module header: bigmodel's graph IR -- op structs, computation_graph, validation, shape inference,
// concepts and customization points, pattern matching and rewriting.
#include "graph/ops.hpp"
#include "graph/op_set.hpp"
#include "graph/computation_graph.hpp"
#include "graph/topology.hpp"
#include "graph/shape_inference.hpp"
#include "graph/concepts.hpp"
#include "graph/generic.hpp"
#include "graph/match.hpp"
