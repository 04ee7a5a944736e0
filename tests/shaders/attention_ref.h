// Scalar CPU references for the attention-block kernels (RMSNorm, RoPE, KV write, attention),
// shared by test_rms_norm.cpp, test_rope.cpp and test_attention.cpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "graph/ops.h"
#include "support/vk_test.h"

namespace vkllm::attn_ref {

// y = x / sqrt(mean(x^2) + eps) * w per row, in double.
inline std::vector<float> rms_norm(const std::vector<float>& x, const std::vector<float>& w,
                                   uint32_t n, uint32_t rows, float eps) {
  std::vector<float> y(x.size());
  for (uint32_t r = 0; r < rows; ++r) {
    double ss = 0.0;
    for (uint32_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    for (uint32_t i = 0; i < n; ++i) y[r * n + i] = float(x[r * n + i] * inv * w[i]);
  }
  return y;
}

}  // namespace vkllm::attn_ref
