#pragma once
// Module header: pruning (masks, scores, methods, parameter-level pass, structured channel removal).
#include "prune/mask.hpp"
#include "prune/methods.hpp"
#include "prune/parameters.hpp"
#include "prune/scores.hpp"
#include "prune/graph_pruning.hpp"
#include "prune/channel_groups.hpp"
#include "prune/channel_scores.hpp"
#include "prune/channels.hpp"
