// A per-node cost model for profiling: bytes moved and floating-point operations of each op, from
// its OpParams and tensor sizes. Estimates of what a kernel must read and write (every weight
// byte once, activations once, the KV cache rows each token attends to), not counters.
#pragma once
#include <cstdint>
#include <string>

#include "graph/graph.h"

namespace vkllm {

struct NodeCost {
  uint64_t bytes = 0;  // read + written
  double flops = 0;    // floating-point operations (an FMA counts 2)
};

// The cost of `node` in `g` when the batch's first token is at position `pos0` (attention reads
// cache rows 0..pos0 + t for token t).
NodeCost node_cost(const Graph& g, const Node& node, uint32_t pos0);

// Short name of the op kind: "matmul", "attention", "rms_norm", ...
const char* op_kind_name(const OpParams& op);

// The layer a node belongs to, from its name "blk.<i>.<...>": i, or -1 outside the layers.
int node_layer(const std::string& name);

}  // namespace vkllm
