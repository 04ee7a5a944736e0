// Ops for the attention block: RMSNorm, RoPE, KV cache write and tiled causal GQA attention.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/ops.h"

namespace vkllm {

namespace {

// Largest power of two <= min(want, device limit), at least 1.
uint32_t pow2_workgroup(const rt::DeviceInfo& info, uint32_t want) {
  return pow2_floor(
      std::min({want, info.max_workgroup_size[0], std::max(info.max_workgroup_invocations, 1u)}));
}

void require(bool ok, const char* op, const char* what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}

}  // namespace

// The norms' kernel for rows of n elements over `bufs`: rms_norm_rows.comp (one subgroup per
// row) where the tuning asks for it and the device can run it (subgroup arithmetic, a workgroup of
// one subgroup, rows of whole vec4s at 16-byte offsets), else rms_norm.comp (128-wide workgroups).
// Returns the shader's name suffix and sets `wg` to its workgroup size.
std::string Ops::norm_kernel(uint32_t n, std::initializer_list<BufferRange> bufs,
                             uint32_t& wg) const {
  const auto& info = ctx_.info();
  bool rows =
      tuning_.subgroup_norms && info.subgroup_arithmetic && n % 4 == 0 &&
      info.subgroup_size <= std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);
  for (const BufferRange& b : bufs) rows = rows && b.offset % 16 == 0;
  wg = rows ? info.subgroup_size : pow2_workgroup(info, 128);
  return rows ? "_rows" : "";
}

void Ops::rms_norm(rt::Sequence& s, BufferRange x, BufferRange weight, BufferRange y, uint32_t n,
                   uint32_t rows, float eps) {
  require(n > 0, "rms_norm", "n must be positive");
  if (rows == 0) return;
  struct {
    uint32_t n, rows;
    float eps;
  } push{n, rows, eps};
  uint32_t wg = 0;
  const std::string kernel = "rms_norm" + norm_kernel(n, {x, weight, y}, wg);
  const auto& p = ctx_.pipeline({kernel, 3, sizeof(push), {wg}});
  s.dispatch(p, {x, weight, y}, push, groups_1d(uint64_t{rows} * wg, wg), "rms_norm");
}

void Ops::rms_norm_deferred(rt::Sequence& s, BufferRange x, BufferRange weight, BufferRange y,
                            BufferRange partials, uint32_t n, uint32_t rows) {
  require(n > 0, "rms_norm_deferred", "n must be positive");
  if (rows == 0) return;
  struct {
    uint32_t n, rows;
    float eps;  // unused: the consumer adds it
  } push{n, rows, 0.0f};
  uint32_t wg = 0;
  const std::string kernel = "rms_norm_deferred" + norm_kernel(n, {x, weight, y, partials}, wg);
  const auto& p = ctx_.pipeline({kernel, 4, sizeof(push), {wg}});
  s.dispatch(p, {x, weight, y, partials}, push, groups_1d(uint64_t{rows} * wg, wg), "rms_norm");
}

void Ops::add_rms_norm(rt::Sequence& s, BufferRange x, BufferRange b, BufferRange weight,
                       BufferRange sum, BufferRange y, uint32_t n, uint32_t rows, float eps) {
  require(n > 0, "add_rms_norm", "n must be positive");
  if (rows == 0) return;
  struct {
    uint32_t n, rows;
    float eps;
  } push{n, rows, eps};
  uint32_t wg = 0;
  const std::string kernel = "add_rms_norm" + norm_kernel(n, {x, b, weight, sum, y}, wg);
  const auto& p = ctx_.pipeline({kernel, 5, sizeof(push), {wg}});
  s.dispatch(p, {x, weight, y, b, sum}, push, groups_1d(uint64_t{rows} * wg, wg), "add_rms_norm");
}

const rt::Buffer& Ops::rope_inv_freq(uint32_t n_rot, const RopeFreqs& freqs) {
  require(freqs.factors.empty() || freqs.factors.size() == n_rot / 2, "rope",
          "frequency factors must have n_rot / 2 entries");
  // Rounded once from double, so the table (and hence every angle pos * inv_freq in f32) does not
  // depend on the device's pow/exp2 accuracy.
  std::vector<float> table(std::max(n_rot / 2, 1u), 1.0f);
  for (uint32_t i = 0; i < n_rot / 2; ++i) {
    const double f = freqs.factors.empty() ? 1.0 : static_cast<double>(freqs.factors[i]);
    table[i] = static_cast<float>(static_cast<double>(freqs.scale) *
                                  std::pow(static_cast<double>(freqs.base), -2.0 * i / n_rot) / f);
  }
  auto it = rope_tables_.find(table);
  if (it != rope_tables_.end()) return it->second;
  rt::Buffer b = ctx_.create_buffer(table.size() * sizeof(float), "rope_inv_freq");
  ctx_.upload(b, 0, table.data(), table.size() * sizeof(float));
  return rope_tables_.emplace(std::move(table), std::move(b)).first->second;
}

void Ops::rope_kv(rt::Sequence& s, BufferRange q, BufferRange k, BufferRange v, BufferRange q_out,
                  BufferRange k_cache, BufferRange v_cache, BufferRange step, const RopeKvShape& sh,
                  const QkvLayout& lay) {
  require(sh.head_dim % 2 == 0 && sh.n_rot % 2 == 0, "rope_kv", "head_dim and n_rot must be even");
  require(sh.n_rot <= sh.head_dim, "rope_kv", "n_rot must not exceed head_dim");
  require(!sh.kv_half || sh.mode == RopeMode::Normal, "rope_kv",
          "an f16 KV cache needs adjacent-pair RoPE");
  require(lay.q_stride >= sh.n_heads * sh.head_dim && lay.k_stride >= sh.n_kv_heads * sh.head_dim &&
              lay.v_stride >= sh.n_kv_heads * sh.head_dim,
          "rope_kv", "a row stride is shorter than its row");
  const uint64_t pairs = uint64_t{sh.T} * (sh.n_heads + 2 * sh.n_kv_heads) * (sh.head_dim / 2);
  if (pairs == 0) return;
  const rt::Buffer& table = rope_inv_freq(sh.n_rot, sh.freqs);
  struct {
    uint32_t head_dim, n_heads, n_kv_heads, T, n_rot, ctx_len;
    QkvLayout lay;
  } push{sh.head_dim, sh.n_heads, sh.n_kv_heads, sh.T, sh.n_rot, sh.ctx_len, lay};
  const uint32_t neox = sh.mode == RopeMode::NeoX ? 1 : 0;
  const auto& p = ctx_.pipeline(
      {"rope_kv", 8, sizeof(push), {tuning_.elementwise_wg, neox, sh.kv_half ? 1u : 0u}});
  s.dispatch(p, {q, k, v, q_out, k_cache, v_cache, step, table}, push,
             groups_1d(pairs, tuning_.elementwise_wg), neox ? "rope_kv_neox" : "rope_kv");
}

void Ops::rope(rt::Sequence& s, BufferRange x, BufferRange y, BufferRange step, uint32_t head_dim,
               uint32_t n_heads, uint32_t T, uint32_t n_rot, const RopeFreqs& freqs,
               RopeMode mode) {
  require(head_dim % 2 == 0 && n_rot % 2 == 0, "rope", "head_dim and n_rot must be even");
  require(n_rot <= head_dim, "rope", "n_rot must not exceed head_dim");
  const uint64_t pairs = uint64_t{T} * n_heads * (head_dim / 2);
  if (pairs == 0) return;
  const rt::Buffer& table = rope_inv_freq(n_rot, freqs);
  struct {
    uint32_t head_dim, n_heads, T, n_rot;
  } push{head_dim, n_heads, T, n_rot};
  const uint32_t neox = mode == RopeMode::NeoX ? 1 : 0;
  const auto& p = ctx_.pipeline({"rope", 4, sizeof(push), {tuning_.elementwise_wg, neox}});
  s.dispatch(p, {x, y, step, table}, push, groups_1d(pairs, tuning_.elementwise_wg),
             neox ? "rope_neox" : "rope");
}

void Ops::kv_write(rt::Sequence& s, BufferRange src, BufferRange cache, BufferRange step,
                   uint32_t kv_width, uint32_t T, uint32_t ctx_len) {
  const uint64_t n = uint64_t{T} * kv_width;
  if (n == 0 || ctx_len == 0) return;
  struct {
    uint32_t kv_width, T, ctx_len;
  } push{kv_width, T, ctx_len};
  const auto& p = ctx_.pipeline({"kv_write", 3, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {src, cache, step}, push, groups_1d(n, tuning_.elementwise_wg), "kv_write");
}

void Ops::attention(rt::Sequence& s, BufferRange q, BufferRange k_cache, BufferRange v_cache,
                    BufferRange out, BufferRange step, uint32_t head_dim, uint32_t n_heads,
                    uint32_t n_kv_heads, uint32_t T, uint32_t ctx_len, float scale, bool kv_half) {
  constexpr uint32_t kMaxHeadDim = 256, kDimsPerThread = 8, kTile = 256;
  require(head_dim > 0 && head_dim <= kMaxHeadDim, "attention", "head_dim must be in 1..256");
  require(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "attention",
          "n_heads must be a multiple of n_kv_heads");
  require(ctx_len > 0, "attention", "ctx_len must be positive");
  if (T == 0 || n_heads == 0) return;
  const auto& info = ctx_.info();
  require(T <= info.max_workgroup_count[1] && n_heads <= info.max_workgroup_count[0], "attention",
          "too many tokens or heads for one dispatch");
  const uint64_t align = info.min_texel_offset_alignment;
  const uint64_t kv_bytes = uint64_t{ctx_len} * n_kv_heads * head_dim * kv_element_bytes(kv_half);
  const uint64_t q_bytes = uint64_t{T} * n_heads * head_dim * 4;
  if (tuning_.texel_kernels && info.subgroup_arithmetic && head_dim % (kv_half ? 8 : 4) == 0 &&
      info.subgroup_size <= std::min(info.max_workgroup_size[0], info.max_workgroup_invocations) &&
      q.offset % align == 0 && k_cache.offset % align == 0 && v_cache.offset % align == 0 &&
      std::max(kv_bytes, q_bytes) / 16 <= info.max_texel_buffer_elements) {
    // attention_t: one subgroup per (head, group of qt tokens), q/k/v through texel buffers.
    // Batches of kGroupedBatch tokens or more share each key and value fetch among qt tokens,
    // as many as keep qt * head_dim within 256 (the kernel's registers). One token and shorter
    // batches keep qt = 1, whose pipeline decode compiles anyway: the grouped kernel's compile
    // (~1.2 s on lavapipe at qt 4) would put a cold start's 128-token first prompt over 3 s
    // (docs/perf.md), while what it saves grows with the square of the batch (~30 ms at 128
    // tokens, ~0.9 s at 1000 on lavapipe).
    constexpr uint32_t kGroupedBatch = 256;
    uint32_t qt = 1;
    if (T >= kGroupedBatch)
      qt = std::clamp<uint32_t>(tuning_.attention_tokens, 1, std::max(256 / head_dim, 1u));
    const uint32_t groups = (T + qt - 1) / qt;
    struct {
      uint32_t n_heads, n_kv_heads, T, ctx_len;
      float scale;
    } push{n_heads, n_kv_heads, T, ctx_len, scale};
    rt::PipelineDesc desc{kv_half ? "attention_t_kv_half" : "attention_t",
                          5,
                          sizeof(push),
                          {info.subgroup_size, head_dim, qt},
                          {}};
    desc.texel.assign(3, VK_FORMAT_R32G32B32A32_SFLOAT);
    if (kv_half) desc.texel[1] = desc.texel[2] = VK_FORMAT_R32G32B32A32_UINT;
    desc.split_dim = 0;  // heads cost alike; token groups do not (causal)
    const auto& p = ctx_.pipeline(desc);
    s.dispatch(p,
               {BufferRange(*q.buffer, q.offset, q_bytes),
                BufferRange(*k_cache.buffer, k_cache.offset, kv_bytes),
                BufferRange(*v_cache.buffer, v_cache.offset, kv_bytes), out, step},
               push, {n_heads, groups, 1}, "attention");
    return;
  }
  const uint32_t wg = pow2_workgroup(info, 64);
  require(wg * kDimsPerThread >= head_dim, "attention", "workgroup too small for head_dim");
  struct {
    uint32_t head_dim, n_heads, n_kv_heads, T, ctx_len;
    float scale;
  } push{head_dim, n_heads, n_kv_heads, T, ctx_len, scale};
  rt::PipelineDesc desc{"attention", 5, sizeof(push), {wg, kTile, kv_half ? 1u : 0u}};
  desc.split_dim = 0;  // heads cost alike; tokens do not (causal)
  const auto& p = ctx_.pipeline(desc);
  s.dispatch(p, {q, k_cache, v_cache, out, step}, push, {n_heads, T, 1}, "attention");
}

}  // namespace vkllm
