#include "graph/ops.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace vkllm {

Ops::Ops(rt::Context& ctx) : ctx_(ctx) {
  const auto& info = ctx.info();
  elementwise_wg_ = std::clamp<uint32_t>(info.subgroup_size * 8, 32, 256);
  elementwise_wg_ = std::min(elementwise_wg_, info.max_workgroup_size[0]);
  // Texel kernels by default where storage-buffer loads are known to be slow (CPU drivers);
  // GPUs keep the storage-buffer kernels until measured there.
  bool texel = info.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (const char* e = std::getenv("VKLLM_TEXEL_KERNELS"); e && *e) texel = std::strcmp(e, "0") != 0;
  set_texel_kernels(texel);
  texel_lanes_ = info.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
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
  const auto& p = ctx_.pipeline({"add", 3, sizeof(push), {elementwise_wg_}});
  s.dispatch(p, {a, b, c}, push, groups_1d(n, elementwise_wg_), "add");
}

}  // namespace vkllm
