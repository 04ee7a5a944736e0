// Memory planner: places activation tensors in one arena so that tensors whose lifetimes do not
// overlap share memory.
#pragma once
#include <cstdint>

#include "graph/graph.h"

namespace vkllm {

struct MemoryPlan {
  uint64_t arena_bytes = 0;      // size of the arena needed
  uint64_t unshared_bytes = 0;   // what the activations would take without reuse
  std::vector<uint64_t> offset;  // per tensor id (activations only; others 0)
};

// Lifetimes are [node that writes the tensor, last node that reads it]. Offsets are multiples of
// `alignment`. Greedy: largest tensors first, each at the lowest offset free during its lifetime.
MemoryPlan plan_memory(const Graph& g, uint64_t alignment);

// Binds every activation tensor of `g` to `arena` at its planned offset.
void bind_arena(Graph& g, const MemoryPlan& plan, const rt::Buffer& arena);

}  // namespace vkllm
