#include "graph/ops.h"

#include <algorithm>

namespace vkllm {

Ops::Ops(rt::Context& ctx) : Ops(ctx, kernel_tuning(ctx.info())) {}

Ops::Ops(rt::Context& ctx, const KernelTuning& tuning) : ctx_(ctx), tuning_(tuning) {
  set_texel_kernels(tuning_.texel_kernels);
}

std::array<uint32_t, 3> Ops::groups_1d(uint64_t n, uint32_t local) const {
  const uint64_t groups = (n + local - 1) / local;
  const uint64_t max_x = std::min<uint64_t>(ctx_.info().max_workgroup_count[0], 65535);
  if (groups <= max_x) return {static_cast<uint32_t>(std::max<uint64_t>(groups, 1)), 1, 1};
  return {static_cast<uint32_t>(max_x), static_cast<uint32_t>((groups + max_x - 1) / max_x), 1};
}

void Ops::add(rt::Sequence& s, BufferRange a, BufferRange b, BufferRange c, uint32_t n,
              uint32_t nb) {
  struct {
    uint32_t n, nb;
  } push{n, nb};
  const auto& p = ctx_.pipeline({"add", 3, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {a, b, c}, push, groups_1d(n, tuning_.elementwise_wg), "add");
}

}  // namespace vkllm
