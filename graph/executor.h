// Executor: records a placed graph into a command sequence, one dispatch per node, with a barrier
// exactly where a node touches memory that an earlier node (since the last barrier) wrote, or
// writes memory an earlier node read or wrote.
#pragma once
#include "graph/graph.h"
#include "graph/ops.h"
#include "runtime/sequence.h"

namespace vkllm {

struct RecordStats {
  uint32_t dispatches = 0;
  uint32_t barriers = 0;
};

RecordStats record_graph(const Graph& g, Ops& ops, rt::Sequence& seq);

}  // namespace vkllm
