// Ops for the attention block: RMSNorm, RoPE, KV cache write and tiled causal GQA attention.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "graph/ops.h"

namespace vkllm {

namespace {

// Largest power of two <= min(want, device limit), at least 1.
uint32_t pow2_workgroup(const rt::DeviceInfo& info, uint32_t want) {
  const uint32_t limit =
      std::min({want, info.max_workgroup_size[0], std::max(info.max_workgroup_invocations, 1u)});
  uint32_t wg = 1;
  while (wg * 2 <= limit) wg *= 2;
  return wg;
}

void require(bool ok, const char* op, const char* what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}

}  // namespace

void Ops::rms_norm(rt::Sequence& s, BufferRange x, BufferRange weight, BufferRange y, uint32_t n,
                   uint32_t rows, float eps) {
  require(n > 0, "rms_norm", "n must be positive");
  if (rows == 0) return;
  struct {
    uint32_t n, rows;
    float eps;
  } push{n, rows, eps};
  const uint32_t wg = pow2_workgroup(ctx_.info(), 128);
  const auto& p = ctx_.pipeline({"rms_norm", 3, sizeof(push), {wg}});
  s.dispatch(p, {x, weight, y}, push, groups_1d(uint64_t{rows} * wg, wg), "rms_norm");
}

}  // namespace vkllm
