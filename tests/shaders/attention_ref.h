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

// RoPE as the kernel defines it: inv_freq = f32(base^(-2i/n_rot)), angle = f32(pos) * inv_freq
// rounded to f32 (as llama.cpp), then cos/sin and the rotation in double.
inline std::vector<float> rope(const std::vector<float>& x, uint32_t head_dim, uint32_t n_heads,
                               uint32_t T, uint32_t n_rot, float base, RopeMode mode,
                               uint32_t pos0) {
  std::vector<float> y = x;
  for (uint32_t t = 0; t < T; ++t)
    for (uint32_t h = 0; h < n_heads; ++h) {
      const size_t off = (size_t(t) * n_heads + h) * head_dim;
      for (uint32_t i = 0; i < n_rot / 2; ++i) {
        const float inv_freq = float(std::pow(double(base), -2.0 * i / n_rot));
        const float angle = float(pos0 + t) * inv_freq;
        const double c = std::cos(double(angle)), s = std::sin(double(angle));
        const size_t i0 = mode == RopeMode::NeoX ? off + i : off + 2 * i;
        const size_t i1 = mode == RopeMode::NeoX ? off + i + n_rot / 2 : off + 2 * i + 1;
        const double a = x[i0], b = x[i1];
        y[i0] = float(a * c - b * s);
        y[i1] = float(a * s + b * c);
      }
    }
  return y;
}

inline void kv_write(const std::vector<float>& src, std::vector<float>& cache, uint32_t kv_width,
                     uint32_t T, uint32_t ctx_len, uint32_t pos0) {
  for (uint32_t t = 0; t < T && pos0 + t < ctx_len; ++t)
    std::copy_n(src.begin() + size_t(t) * kv_width, kv_width,
                cache.begin() + size_t(pos0 + t) * kv_width);
}

// Causal GQA attention in double.
inline std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, uint32_t head_dim,
                                    uint32_t n_heads, uint32_t n_kv_heads, uint32_t T,
                                    uint32_t ctx_len, float scale, uint32_t pos0) {
  std::vector<float> out(size_t(T) * n_heads * head_dim);
  const uint32_t group = n_heads / n_kv_heads;
  const size_t kv_stride = size_t(n_kv_heads) * head_dim;
  std::vector<double> sc, acc(head_dim);
  for (uint32_t t = 0; t < T; ++t)
    for (uint32_t h = 0; h < n_heads; ++h) {
      const float* qh = &q[(size_t(t) * n_heads + h) * head_dim];
      const size_t kv_off = size_t(h / group) * head_dim;
      const uint32_t n_keys = std::min(pos0 + t + 1, ctx_len);
      sc.assign(n_keys, 0.0);
      double mx = -INFINITY;
      for (uint32_t j = 0; j < n_keys; ++j) {
        double d = 0.0;
        for (uint32_t i = 0; i < head_dim; ++i) d += double(qh[i]) * k[j * kv_stride + kv_off + i];
        sc[j] = d * scale;
        mx = std::max(mx, sc[j]);
      }
      double sum = 0.0;
      for (double& s : sc) sum += (s = std::exp(s - mx));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (uint32_t j = 0; j < n_keys; ++j)
        for (uint32_t i = 0; i < head_dim; ++i) acc[i] += sc[j] * v[j * kv_stride + kv_off + i];
      for (uint32_t i = 0; i < head_dim; ++i)
        out[(size_t(t) * n_heads + h) * head_dim + i] = float(acc[i] / sum);
    }
  return out;
}

// A device step buffer holding pos0 (and n_past = pos0).
inline rt::Buffer step_buffer(uint32_t pos0) {
  StepParams sp{pos0, pos0, {0, 0}};
  rt::Buffer b = test::context().create_buffer(sizeof(sp), "step");
  test::context().upload(b, 0, &sp, sizeof(sp));
  return b;
}

}  // namespace vkllm::attn_ref
