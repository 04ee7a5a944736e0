// Ops for matrix products with f32 or f16 weights: a matrix-vector kernel for one token and
// matrix-matrix kernels for batches.
//
// Kernel shapes (chosen here from DeviceInfo, passed as specialization constants):
// - matvec (T == 1): one workgroup per kMatvecRows rows of W; threads stride along K. With subgroup
//   arithmetic the workgroup is one subgroup, so the reduction is a subgroupAdd with no barrier;
//   otherwise a shared-memory tree reduction over max(subgroup size, 32) threads.
// - matmul (T > 1, GPUs): shared-memory tiles of W and x, 64 threads, 4 x 4 outputs per thread. BN
//   (tokens per tile) follows T (4..64, next power of two), BM = 1024 / BN.
// - matmul_rows (T > 1, CPU devices): only the x tile is staged; each thread reads its kRowsTM rows
//   of W directly and keeps a kRowsTM x BN block of sums. On lavapipe every storage or shared load
//   is scalarised per SIMD lane while the per-thread sums live in vector registers or the stack as
//   whole SIMD vectors, so the fewer loads per FMA the better: measured on the 2-core test machine
//   (M 2048, K 768, T 64) the shared-tile kernel peaked at ~5 GFLOP/s in its best shape, this one
//   reached ~12-14 with 8 rows x 32 tokens per thread (~20 with 16 x 64, at a much longer LLVM
//   compile), against 2-4 GFLOP/s for T matrix-vector products.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "graph/ops.h"
#include "quant/formats.h"

namespace vkllm {

namespace {

constexpr uint32_t kMatvecRows = 16;
constexpr uint32_t kMatmulThreads = 64;
constexpr uint32_t kMatmulBK = 16;
constexpr uint32_t kRowsWG = 64;
constexpr uint32_t kRowsTM = 8;
constexpr uint32_t kRowsBK = 64;
constexpr uint32_t kQuantMatvecRows = 8;
constexpr uint32_t kQuantMatvecTokens = 4;
// Texel kernels, K split over the invocations (GPUs; shapes tuned on lavapipe before rows per
// invocation took over there, unmeasured on GPUs): 16 rows x batch_tokens tokens per workgroup
// for batches, 8 rows for one token (32 for Q8_0). Measured on lavapipe (2 cores, 110M,
// docs/perf.md): Q4_0 pp128 ~185 tok/s K-split, ~280 rows per invocation.
// The rows-per-invocation shapes are device settings (graph/tuning.h: lane_rows, lane_rows_one,
// batch_tokens, lane_width; graph/device_profiles.ini). Defaults: 8 rows x batch_tokens tokens per
// invocation for batches and quantized decode (16 rows: prompts +16-22% but ~2 s more cold
// start), and 2 rows for F16/F32 decode (row-major, on an AMD EPYC VM: ~30 -> ~33 tok/s vs 1 row,
// 4: ~22); the CPU profile sets 8 for those since the F16 row tiles (on a Xeon VM the lone
// 32000 x 768 F16 product 3.4-3.6 -> 2.5-2.7 ms, 110M F16 decode +17%; device_profiles.ini).
constexpr uint32_t kTexelRowsBatch = 16;
constexpr uint32_t kTexelRowsOne = 8;
constexpr uint32_t kTexelRowsOneQ8 = 32;

uint32_t pow2_ceil(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p *= 2;
  return p;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("matmul: " + what);
}

// A quantized range of `used` bytes, widened to whole 32-bit words (the kernels read words): the
// buffer must hold the padding.
BufferRange word_range(BufferRange r, uint64_t used, const char* op, GGMLType type) {
  const uint64_t words = (used + 3) / 4 * 4;
  if (words != used && (!r.buffer || r.offset + words > r.buffer->size()))
    throw std::invalid_argument(std::string(op) + ": " + type_name(type) +
                                " range must be followed by 2 padding bytes");
  r.size = words;
  return r;
}

}  // namespace

std::optional<QuantKernelFormat> quant_kernel_format(GGMLType type) {
  if (type == GGMLType::F32 || type == GGMLType::F16) return std::nullopt;
  const WeightFormat* f = weight_format(type);
  if (!f) return std::nullopt;
  // Plain 16-bit formats (BF16) are read 32 values (16 words) at a time.
  const uint32_t per = f->block_size >= 32 ? 1 : 32 / f->block_size;
  return QuantKernelFormat{f->glsl, f->block_size * per, f->block_bytes * per};
}

uint64_t Ops::planar_alignment() const {
  return std::max<uint64_t>(256, ctx_.info().min_texel_offset_alignment);
}

uint32_t Ops::texel_lane_width() const {
  return tuning_.lane_width;
}

PlanarParams Ops::planar_params(GGMLType wtype) const {
  return {planar_alignment(), texel_lane_width(),
          // the float forms (F16, BF16) take the row-major rows per invocation
          has_planar_layout(wtype) && planar_scale_texels(wtype) == 0 ? tuning_.lane_rows_one
                                                                      : tuning_.lane_rows};
}

bool Ops::texel_matmul_ok(GGMLType wtype, WeightLayout layout, const BufferRange& w,
                          const BufferRange& x, uint32_t M, uint32_t K, uint32_t T) const {
  const auto& info = ctx_.info();
  if (!tuning_.texel_kernels || K == 0 || K % 32 != 0) return false;
  const bool planar = layout == WeightLayout::Planar;
  if (planar ? !has_planar_layout(wtype) || K % weight_format(wtype)->block_size != 0
             : wtype != GGMLType::F32 && wtype != GGMLType::F16)
    return false;
  const uint64_t align = info.min_texel_offset_alignment;
  if (w.offset % align != 0 || x.offset % align != 0) return false;
  // Largest texel count of any binding: W's planes (16-byte texels) and x (vec4 texels).
  uint64_t w_texels = wtype == GGMLType::F32 ? uint64_t{M} * K / 4 : uint64_t{M} * K / 8;
  if (planar) {
    const PlanarShape ps = planar_shape(wtype, M, K, planar_params(wtype));
    w_texels = std::max(ps.quant_bytes, ps.scale_bytes) / 16;
  }
  return std::max(w_texels, uint64_t{T} * K / 4) <= info.max_texel_buffer_elements;
}

bool Ops::glu_supported(GGMLType wtype, WeightLayout layout, uint32_t M, uint32_t K) const {
  BufferRange aligned;
  return M % 2 == 0 && texel_matmul_ok(wtype, layout, aligned, aligned, M, K, 1);
}

WeightLayout Ops::weight_layout(GGMLType wtype, uint32_t M, uint32_t K) const {
  if (!has_planar_layout(wtype) || (!tuning_.planar_larger && planar_larger(wtype)))
    return WeightLayout::AsStored;
  BufferRange aligned;  // offset 0: weights get their own buffers
  return texel_matmul_ok(wtype, WeightLayout::Planar, aligned, aligned, M, K, 1)
             ? WeightLayout::Planar
             : WeightLayout::AsStored;
}

Ops::TexelShape Ops::texel_shape(GGMLType wtype, WeightLayout layout, uint32_t T) const {
  const auto& info = ctx_.info();
  const uint32_t max_wg = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);
  TexelShape sh{};
  sh.tile_rows = 1;  // row-major unless planar
  if (layout == WeightLayout::Planar) {
    const PlanarParams pp = planar_params(wtype);
    sh.tile_lanes = pp.lanes;
    sh.tile_rows = pp.lane_rows;
  }
  const bool f16 = wtype == GGMLType::F16 || wtype == GGMLType::BF16;
  sh.nt = T == 1                                 ? 1
          : f16 && tuning_.batch_tokens_f16 != 0 ? tuning_.batch_tokens_f16
                                                 : tuning_.batch_tokens;
  if (tuning_.texel_lanes) {
    // Rows per invocation (matvec_t_*_lanes): no cross-invocation reduction. For one token the
    // planar layout's rows per lane (planar_params: lane_rows quantized, lane_rows_one F16), so
    // that the workgroup reads its tile front to back, and lane_rows_one for row-major weights
    // (even: a GLU's gate/up pair stays in one invocation); lane_rows x batch_tokens for batches.
    sh.wg = texel_lane_width();
    sh.rows = T > 1                            ? tuning_.lane_rows
              : layout == WeightLayout::Planar ? sh.tile_rows
                                               : tuning_.lane_rows_one;
    sh.rows_per_group = sh.wg * sh.rows;
  } else {
    sh.subgroup = info.subgroup_arithmetic && info.subgroup_size <= max_wg;
    sh.wg = sh.subgroup ? info.subgroup_size
                        : pow2_floor(std::min(std::max(info.subgroup_size, 32u), max_wg));
    // Two quant texels per block (int8: Q8_0's planar form): more rows per workgroup.
    const bool q8 = layout == WeightLayout::Planar && planar_quant_texels(wtype) == 2;
    sh.rows = T > 1 ? kTexelRowsBatch : (q8 ? kTexelRowsOneQ8 : kTexelRowsOne);
    sh.rows_per_group = sh.rows;
  }
  return sh;
}

// Texel kernels. Rows per invocation where texel_lanes() (CPU devices), else the K split over
// one subgroup per workgroup (subgroupAdd) or a shared-memory reduction.
void Ops::matmul_texel(rt::Sequence& s, GGMLType wtype, WeightLayout layout, BufferRange w,
                       BufferRange x, BufferRange y, uint32_t M, uint32_t K, uint32_t T, bool glu,
                       const RopeKvFusion* rope, const NormIn* norm_in, const NormOut* norm_out) {
  require(range_bytes(x) >= uint64_t{T} * K * 4, "x range smaller than T x K");
  require(!glu || M % 2 == 0, "the fused SwiGLU needs an even M (gate/up row pairs)");
  require(!norm_out || (!glu && !rope && !norm_in), "a NormOut product has no GLU, RoPE or NormIn");
  require(!(norm_in || norm_out) || (T == 1 && norm_fusable(wtype, layout, M, K)),
          "the deferred norm needs one token and the rows-per-invocation or subgroup texel "
          "kernels");
  const uint64_t y_cols = rope ? rope->shape.n_heads * rope->shape.head_dim : glu ? M / 2 : M;
  require(range_bytes(y) >= uint64_t{T} * y_cols * 4, "output range smaller than T rows");
  const TexelShape sh = texel_shape(wtype, layout, T);
  const BufferRange xr(*x.buffer, x.offset, uint64_t{T} * K * 4);
  std::vector<BufferRange> binds;
  std::vector<VkFormat> texel;
  if (layout == WeightLayout::Planar) {
    const PlanarShape ps = planar_shape(wtype, M, K, planar_params(wtype));
    require(range_bytes(w) >= ps.total_bytes,
            "planar weight range smaller than M rows of " + type_name(wtype));
    binds = {BufferRange(*w.buffer, w.offset, ps.quant_bytes)};
    texel = {VK_FORMAT_R32G32B32A32_UINT};
    if (ps.scale_bytes) {
      binds.emplace_back(*w.buffer, w.offset + ps.scale_offset, ps.scale_bytes);
      texel.push_back(VK_FORMAT_R32G32B32A32_UINT);
    }
    binds.insert(binds.end(), {xr, y});
    texel.push_back(VK_FORMAT_R32G32B32A32_SFLOAT);
  } else {
    const bool f16 = wtype == GGMLType::F16;
    const uint64_t w_bytes = uint64_t{M} * K * (f16 ? 2 : 4);
    require(range_bytes(w) >= w_bytes, "weight range smaller than M x K");
    binds = {BufferRange(*w.buffer, w.offset, w_bytes), xr, y};
    texel = {f16 ? VK_FORMAT_R32G32B32A32_UINT : VK_FORMAT_R32G32B32A32_SFLOAT,
             VK_FORMAT_R32G32B32A32_SFLOAT};
  }
  // M, K, T, glu, then for the RoPE fusion E, KV, head_dim, n_rot, ctx_len, then for the norm
  // variants the mode (0 none, 1 NormIn, 2 NormOut), the partials per token and eps.
  std::vector<uint32_t> push = {M, K, T, glu ? 1u : 0u};
  std::string suffix;
  if (rope) {
    const RopeKvShape& rs = rope->shape;
    const uint32_t E = rs.n_heads * rs.head_dim, KV = rs.n_kv_heads * rs.head_dim;
    require(M == E + 2 * KV, "the fused q/k/v product needs M = E + 2 KV rows");
    const uint64_t kv_bytes = uint64_t{rs.ctx_len} * KV * kv_element_bytes(rs.kv_half);
    require(range_bytes(rope->k_cache) >= kv_bytes && range_bytes(rope->v_cache) >= kv_bytes,
            "cache ranges smaller than ctx_len rows");
    binds.insert(binds.end(),
                 {rope->k_cache, rope->v_cache, rope->step, rope_inv_freq(rs.n_rot, rs.freqs)});
    push.insert(push.end(), {E, KV, rs.head_dim, rs.n_rot, rs.ctx_len});
    suffix = "_qkv";
  }
  // The rows-per-invocation and subgroup variants take the deferred norm (p.norm, its partials,
  // residual, weight and sum; unused bindings alias y), so plain and norm products share one
  // pipeline.
  const bool norm_variant = tuning_.texel_lanes || sh.subgroup;
  if (norm_in) {
    require(norm_in->count > 0 && norm_in->count % 4 == 0,
            "NormIn needs a positive multiple of 4 partials per token");
    require(range_bytes(norm_in->partials) >= uint64_t{T} * norm_in->count * 4,
            "NormIn partials range smaller than T x count");
  }
  if (norm_out) {
    const uint64_t tm = uint64_t{T} * M * 4;
    require(range_bytes(norm_out->residual) >= tm && range_bytes(norm_out->sum) >= tm,
            "NormOut residual or sum range smaller than T x M");
    require(range_bytes(norm_out->weight) >= uint64_t{M} * 4, "NormOut weight smaller than M");
    require(range_bytes(norm_out->partials) >= uint64_t{T} * norm_partials(wtype, layout, M, T) * 4,
            "NormOut partials range smaller than T x norm_partials");
  }
  if (norm_variant) {
    // NormOut writes its partials to a storage binding; NormIn reads them through a texel view
    // (the last binding; plain products bind x there).
    const BufferRange partials = norm_out ? norm_out->partials : y;
    const BufferRange partials_t =
        norm_in ? BufferRange(*norm_in->partials.buffer, norm_in->partials.offset,
                              uint64_t{T} * norm_in->count * 4)
                : xr;
    if (norm_out)
      binds.insert(binds.end(),
                   {partials, norm_out->residual, norm_out->weight, norm_out->sum, partials_t});
    else
      binds.insert(binds.end(), {partials, y, y, y, partials_t});
    texel.resize(binds.size(), VK_FORMAT_UNDEFINED);
    texel.back() = VK_FORMAT_R32G32B32A32_SFLOAT;
    const float eps = norm_in ? norm_in->eps : 0.0f;
    uint32_t eps_bits;
    std::memcpy(&eps_bits, &eps, 4);
    push.insert(push.end(), {norm_in    ? 1u
                             : norm_out ? 2u
                                        : 0u,
                             norm_in ? norm_in->count : 0u, eps_bits});
  }
  const uint32_t push_bytes = static_cast<uint32_t>(push.size() * 4);
  // Planar formats run the kernel of the form they share (quant/repack.h planar_kernel).
  std::string name =
      std::string("matvec_t_") +
      (layout == WeightLayout::Planar ? planar_kernel(wtype) : weight_format(wtype)->glsl) +
      (tuning_.texel_lanes ? "_lanes"
       : sh.subgroup       ? "_subgroup"
                           : "") +
      suffix;
  std::vector<uint32_t> spec = {sh.wg, sh.rows, sh.nt, sh.tile_lanes, sh.tile_rows};
  if (rope) {
    spec.push_back(rope->shape.kv_half ? 1u : 0u);  // KV_HALF
  } else if (tuning_.texel_lanes && sh.nt == 1) {
    // One-token products get a pipeline per end (EPILOGUE: plain or NormIn, NormOut, GLU), so
    // none runs the code of the ends it does not take; batches keep one pipeline for all (their
    // compile is most of a cold start).
    enum Epilogue : uint32_t { kPlain = 1, kNormOut = 2, kGlu = 3 };  // matvec_t.comp EPILOGUE_*
    spec.push_back(0);                                                // KV_HALF (unused)
    spec.push_back(norm_out ? kNormOut : glu ? kGlu : kPlain);
  }
  rt::PipelineDesc desc{name, static_cast<uint32_t>(binds.size()), push_bytes, spec, texel};
  const auto& p = ctx_.pipeline(desc);
  const uint64_t blocks = (uint64_t{M} + sh.rows_per_group - 1) / sh.rows_per_group *
                          ((uint64_t{T} + sh.nt - 1) / sh.nt);
  s.dispatch(p, binds, push.data(), push_bytes, groups_1d(blocks * sh.wg, sh.wg), name.c_str());
}

bool Ops::norm_fusable(GGMLType wtype, WeightLayout layout, uint32_t M, uint32_t K) const {
  BufferRange aligned;
  return M > 0 && texel_matmul_ok(wtype, layout, aligned, aligned, M, K, 1) &&
         (tuning_.texel_lanes || texel_shape(wtype, layout, 1).subgroup);
}

uint32_t Ops::norm_partials(GGMLType wtype, WeightLayout layout, uint32_t M, uint32_t T) const {
  // Rows per invocation: one per invocation; the K split: one per workgroup, padded to 4.
  const TexelShape sh = texel_shape(wtype, layout, T);
  const uint32_t blocks = (M + sh.rows_per_group - 1) / sh.rows_per_group;
  return tuning_.texel_lanes ? blocks * sh.wg : (blocks + 3) / 4 * 4;
}

bool Ops::rope_kv_fusable(GGMLType wtype, WeightLayout layout, uint32_t K,
                          const RopeKvShape& sh) const {
  const uint32_t M = (sh.n_heads + 2 * sh.n_kv_heads) * sh.head_dim;
  BufferRange aligned;
  return sh.mode == RopeMode::Normal && sh.head_dim % 2 == 0 && sh.n_rot % 2 == 0 &&
         sh.n_rot <= sh.head_dim && M > 0 &&
         texel_matmul_ok(wtype, layout, aligned, aligned, M, K, 1);
}

void Ops::matmul_rope_kv(rt::Sequence& s, GGMLType wtype, WeightLayout layout, BufferRange w,
                         BufferRange x, BufferRange q_out, BufferRange k_cache, BufferRange v_cache,
                         BufferRange step, uint32_t K, const RopeKvShape& sh,
                         const NormIn* norm_in) {
  require(rope_kv_fusable(wtype, layout, K, sh),
          "the fused q/k/v + RoPE product needs the texel kernels, " + type_name(wtype) +
              " weights with K a multiple of 32, even head_dim and n_rot, adjacent-pair RoPE");
  const uint32_t M = (sh.n_heads + 2 * sh.n_kv_heads) * sh.head_dim;
  require(texel_matmul_ok(wtype, layout, w, x, M, K, sh.T),
          "fused q/k/v + RoPE product: misaligned ranges or over the texel limits");
  if (sh.T == 0) return;
  const RopeKvFusion rope{k_cache, v_cache, step, sh};
  matmul_texel(s, wtype, layout, w, x, q_out, M, K, sh.T, false, &rope, norm_in);
}

void Ops::matmul(rt::Sequence& s, GGMLType wtype, BufferRange w, BufferRange x, BufferRange y,
                 uint32_t M, uint32_t K, uint32_t T, WeightLayout layout, bool glu,
                 const NormIn* norm_in, const NormOut* norm_out) {
  if (M > 0 && T > 0 && texel_matmul_ok(wtype, layout, w, x, M, K, T)) {
    matmul_texel(s, wtype, layout, w, x, y, M, K, T, glu, nullptr, norm_in, norm_out);
    return;
  }
  require(!norm_in && !norm_out, "the deferred norm needs the texel kernels (" + type_name(wtype) +
                                     ", K a multiple of 32, aligned ranges, texel buffers on)");
  require(!glu, "the fused SwiGLU needs the texel kernels (" + type_name(wtype) +
                    ", K a multiple of 32, aligned ranges, texel buffers on)");
  if (layout == WeightLayout::Planar && (M == 0 || T == 0)) return;  // nothing to compute
  require(layout == WeightLayout::AsStored,
          "planar " + type_name(wtype) + " weights need the texel kernels (K a multiple of 32, " +
              "aligned ranges, texel buffers on)");
  if (const auto q = quant_kernel_format(wtype)) {
    matmul_quant(s, wtype, *q, w, x, y, M, K, T);
    return;
  }
  const bool f16 = wtype == GGMLType::F16;
  require(wtype == GGMLType::F32 || f16,
          "unsupported weight type " + type_name(wtype) +
              " (F32, F16, BF16 and the GGUF block formats of quant/formats.h are supported)");
  require(K > 0, "K must be positive");
  require(!f16 || K % 2 == 0, "F16 weights need an even K");
  if (M == 0 || T == 0) return;
  const uint64_t w_bytes = uint64_t{M} * K * (f16 ? 2 : 4);
  require(range_bytes(w) >= w_bytes, "weight range smaller than M x K");
  require(range_bytes(x) >= uint64_t{T} * K * 4, "x range smaller than T x K");
  require(range_bytes(y) >= uint64_t{T} * M * 4, "y range smaller than T x M");
  const auto& info = ctx_.info();
  const uint32_t max_wg = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);

  if (T == 1) {
    struct {
      uint32_t M, K;
    } push{M, K};
    const bool sg = info.subgroup_arithmetic && info.subgroup_size <= max_wg;
    const uint32_t wg =
        sg ? info.subgroup_size : pow2_floor(std::min(std::max(info.subgroup_size, 32u), max_wg));
    std::string name = f16 ? "matvec_f16" : "matvec_f32";
    if (sg) name += "_subgroup";
    const auto& p = ctx_.pipeline({name, 3, sizeof(push), {wg, kMatvecRows}});
    const uint64_t blocks = (uint64_t{M} + kMatvecRows - 1) / kMatvecRows;
    s.dispatch(p, {w, x, y}, push, groups_1d(blocks * wg, wg), name.c_str());
    return;
  }

  struct {
    uint32_t M, K, T;
  } push{M, K, T};
  if (info.type == VK_PHYSICAL_DEVICE_TYPE_CPU) {
    const uint32_t wg = std::min(kRowsWG, max_wg);
    const uint32_t bn = T <= 8 ? 8 : 32;
    const char* name = f16 ? "matmul_rows_f16" : "matmul_rows_f32";
    const auto& p = ctx_.pipeline({name, 3, sizeof(push), {wg, kRowsTM, bn, kRowsBK}});
    const uint64_t blocks =
        ((uint64_t{M} + wg * kRowsTM - 1) / (wg * kRowsTM)) * ((uint64_t{T} + bn - 1) / bn);
    s.dispatch(p, {w, x, y}, push, groups_1d(blocks * wg, wg), name);
    return;
  }
  uint32_t threads = std::min(kMatmulThreads, pow2_floor(max_wg));
  const uint32_t bn = std::clamp(pow2_ceil(T), 4u, std::min(64u, 4 * threads));
  uint32_t bm = 16 * threads / bn;  // (bm / 4) * (bn / 4) == threads
  // Keep the staged tiles within shared memory (a smaller block per workgroup if needed).
  while (bm > 4 && uint64_t{kMatmulBK} * (bm + bn) * 4 > info.max_shared_memory) {
    bm /= 2;
    threads /= 2;
  }
  const char* name = f16 ? "matmul_f16" : "matmul_f32";
  const auto& p = ctx_.pipeline({name, 3, sizeof(push), {threads, bm, bn, kMatmulBK}});
  const uint64_t blocks = ((uint64_t{M} + bm - 1) / bm) * ((uint64_t{T} + bn - 1) / bn);
  s.dispatch(p, {w, x, y}, push, groups_1d(blocks * threads, threads), name);
}

// Quantized weights: matvec_<glsl>(_subgroup) for every T, on every device type: kQuantMatvecRows
// rows x NT tokens per workgroup (NT = 1 for one token, kQuantMatvecTokens for batches), one
// subgroup per workgroup where subgroup arithmetic exists. On lavapipe (2 cores, M = K = 2048)
// this multi-token matrix-vector kernel reached 5-7.6 GFLOP/s for T = 16..64 against ~1.1 for a
// matmul_rows-style kernel that decoded each weight group once per thread and read x from a
// shared tile (one shared load per FMA); NT = 4 and 8 were within noise, 4 compiles faster.
void Ops::matmul_quant(rt::Sequence& s, GGMLType wtype, const QuantKernelFormat& q, BufferRange w,
                       BufferRange x, BufferRange y, uint32_t M, uint32_t K, uint32_t T) {
  require(K > 0 && K % q.block == 0,
          type_name(wtype) + " weights need K to be a positive multiple of " +
              std::to_string(q.block) + " (K = " + std::to_string(K) + ")");
  if (M == 0 || T == 0) return;
  const uint64_t w_bytes = uint64_t{M} * (K / q.block) * q.block_bytes;
  require(range_bytes(w) >= w_bytes, "weight range smaller than M rows of " + type_name(wtype));
  require(range_bytes(x) >= uint64_t{T} * K * 4, "x range smaller than T x K");
  require(range_bytes(y) >= uint64_t{T} * M * 4, "y range smaller than T x M");
  w = word_range(w, w_bytes, "matmul", wtype);
  const auto& info = ctx_.info();
  const uint32_t max_wg = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);

  struct {
    uint32_t M, K, T;
  } push{M, K, T};
  const uint32_t nt = T == 1 ? 1 : kQuantMatvecTokens;
  const bool sg = info.subgroup_arithmetic && info.subgroup_size <= max_wg;
  const uint32_t wg =
      sg ? info.subgroup_size : pow2_floor(std::min(std::max(info.subgroup_size, 32u), max_wg));
  // Where the device has the texel kernels, W and x are read through texel buffers (one word or
  // float per texel): on CPU drivers a vector gather instead of a per-lane loop.
  const uint64_t talign = std::max<uint64_t>(info.min_texel_offset_alignment, 1);
  const bool texel =
      tuning_.texel_kernels && info.texel_buffers && w.offset % talign == 0 &&
      x.offset % talign == 0 &&
      std::max(range_bytes(w) / 4, uint64_t{T} * K) <= info.max_texel_buffer_elements;
  std::string name = std::string("matvec_") + q.glsl + (texel ? "_texel" : "");
  if (sg) name += "_subgroup";
  rt::PipelineDesc desc{name, 3, sizeof(push), {wg, kQuantMatvecRows, nt}};
  if (texel) desc.texel = {VK_FORMAT_R32_UINT, VK_FORMAT_R32G32B32A32_SFLOAT};
  if (texel) x = BufferRange(*x.buffer, x.offset, uint64_t{T} * K * 4);
  const auto& p = ctx_.pipeline(desc);
  const uint64_t blocks =
      (uint64_t{M} + kQuantMatvecRows - 1) / kQuantMatvecRows * ((uint64_t{T} + nt - 1) / nt);
  s.dispatch(p, {w, x, y}, push, groups_1d(blocks * wg, wg), name.c_str());
}

}  // namespace vkllm
