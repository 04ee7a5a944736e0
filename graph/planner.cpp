#include "graph/planner.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace vkllm {

MemoryPlan plan_memory(const Graph& g, uint64_t alignment) {
  const auto& tensors = g.tensors();
  const auto& nodes = g.nodes();
  const size_t n = tensors.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    for (int s : nodes[i].src) {
      if (first[s] < 0 && tensors[s].kind == TensorKind::Activation)
        throw std::logic_error("tensor '" + tensors[s].name + "' is read before it is written");
      last[s] = i;
    }
    for (int d : nodes[i].outputs()) {
      if (first[d] < 0) first[d] = i;
      last[d] = std::max(last[d], i);
    }
  }

  MemoryPlan plan;
  plan.offset.assign(n, 0);
  std::vector<int> order;
  for (size_t t = 0; t < n; ++t)
    if (tensors[t].kind == TensorKind::Activation && first[t] >= 0) order.push_back(t);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return tensors[a].bytes > tensors[b].bytes; });

  auto align = [&](uint64_t v) { return (v + alignment - 1) / alignment * alignment; };
  struct Placed {
    uint64_t begin, end;
    int first, last;
  };
  std::vector<Placed> placed;
  for (int t : order) {
    const uint64_t size = align(std::max<uint64_t>(tensors[t].bytes, 4));
    plan.unshared_bytes += size;
    // Intervals of the arena busy during this tensor's lifetime, by start offset.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (const Placed& p : placed)
      if (p.first <= last[t] && first[t] <= p.last) busy.push_back({p.begin, p.end});
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + size <= b) break;
      offset = std::max(offset, e);
    }
    plan.offset[t] = offset;
    placed.push_back({offset, offset + size, first[t], last[t]});
    plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
  }
  return plan;
}

void bind_arena(Graph& g, const MemoryPlan& plan, const rt::Buffer& arena) {
  auto& tensors = g.tensors();
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].kind != TensorKind::Activation) continue;
    tensors[t].range =
        rt::BufferRange(arena, plan.offset[t], std::max<uint64_t>(tensors[t].bytes, 4));
  }
}

}  // namespace vkllm
