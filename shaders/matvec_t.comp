#version 450
// Matrix-vector products for one token or a few at a time, weights and activations read through
// texel buffers (shaders/texel.glsl):
//   y[t, m] = sum_k W[m, k] * x[t, k], f32 accumulation, K a multiple of 32.
// Bindings: the weight planes (below), x [T x K] f32 as vec4 texels (R32G32B32A32_SFLOAT), y
// [T x M] f32 (storage buffer).
// Weight formats (-D selects one; graph/ops_matmul.cpp binds the planes):
//   WT_F32   W row-major f32, vec4 texels (R32G32B32A32_SFLOAT)
//   WT_F16   W f16, 8 halves per uvec4 texel (R32G32B32A32_UINT), row-major or planar
//   WT_BF16  planar bfloat16, as F16
//   WT_Q4_0  planar Q4_0 (quant/repack.h): plane 0 the 16 quant bytes of a block as one uvec4
//            texel, plane 1 the fp16 scales of block b of rows 8g..8g+7 in one uvec4 texel (8
//            halves): one fetch serves 8 rows
//   WT_Q8_0  planar Q8_0: plane 0 the 32 quant bytes of a block as two texels, plane 1 as Q4_0
//   WT_Q4_K  planar Q4_K (and Q4_1): plane 0 as Q4_0, plane 1 four f32 texels per group of 8
//            rows and block of 32 (each row's scale and min)
//   WT_Q5_K  planar Q5_K (and Q5_1): plane 0 as Q8_0 (quants 0..31), plane 1 as Q4_K
//   WT_Q6_K  planar Q6_K: plane 0 as Q8_0, plane 1 as Q4_K (the scales of each block's halves)
//   WT_Q3_K  planar Q3_K: plane 0 as Q4_0 (quants 0..7, zero point 4), plane 1 as Q6_K
//   WT_Q2_K  planar Q2_K: plane 0 as Q4_0 (quants 0..3), plane 1 eight f32 texels per group and
//            block (each half's scale and min)
//   (Q5_0 and IQ4_NL run WT_Q8_0: quant/repack.h planar_kernel)
// Where the texel of a row sits: the specialization constants TL and TNR give the planar layout's
// lanes and rows per lane (quant/repack.h planar_quant_texel / planar_scale_texel); TL = 0 is
// row-major (F32, and F16 weights kept as stored).
// Why texel buffers: on CPU Vulkan drivers (lavapipe) a storage-buffer load is a per-lane loop
// with a branch per lane and component, while a texel fetch is a vector gather, and a uvec4
// texel brings 32 Q4_0 weights at once. GGUF's 18- and 34-byte blocks are not 16-byte aligned,
// hence the planar repack at load time.
// Two ways to spread the rows (graph/ops_matmul.cpp picks one per device and shape):
//   default    the K split: a workgroup owns NR rows x NT tokens, its invocations walk strided
//              slices of the rows' blocks and are reduced by a subgroupAdd (USE_SUBGROUP, one
//              subgroup per workgroup) or a shared-memory tree (matvec_reduce.glsl)
//   LANE_ROWS  rows per invocation: each invocation owns NR rows x NT tokens over all of K
// Either way the NT tokens' x values of a block are loaded once for all NR rows and each row's
// block is decoded once for all NT tokens (accumulate_block).
// Fused ends: QKV_ROPE (-D; RoPE and the KV-cache write) and, where rows per invocation or
// subgroups, the deferred RMSNorm (p.norm: scale by the norm factor / add the residual and write
// the norm's partial sums).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(constant_id = 0) const uint WG = 32;  // power of two
layout(constant_id = 1) const uint NR = 8;   // rows per workgroup (LANE_ROWS: per invocation)
layout(constant_id = 2) const uint NT = 1;   // tokens per workgroup
layout(constant_id = 3) const uint TL = 0;   // planar layout: lanes per tile (0: row-major)
layout(constant_id = 4) const uint TNR = 8;  // planar layout: rows per lane
layout(constant_id = 5) const uint KV_HALF = 0;  // QKV_ROPE: f16 cache elements (kv_cache.glsl)
// Which end a rows-per-invocation product for one token has (EPILOGUE_*): fixed per pipeline
// where the caller knows it, since llvmpipe runs every branch of an if under a mask, so the ends a
// product does not take would cost it anyway (docs/perf.md: the 32000 x 768 Q4_0 output product
// 3-13% slower with EPILOGUE_ANY).
// EPILOGUE_ANY picks by the push constants p.glu and p.norm (one pipeline for every end).
const uint EPILOGUE_ANY = 0u, EPILOGUE_PLAIN = 1u, EPILOGUE_NORM_OUT = 2u, EPILOGUE_GLU = 3u;
layout(constant_id = 6) const uint EPILOGUE = EPILOGUE_ANY;
layout(local_size_x_id = 0) in;


#include "planar_types.glsl"
#include "texel.glsl"
#ifdef P_SCALE_PLANE
TEXEL_UVEC4(0) wq;
TEXEL_UVEC4(1) wd;
TEXEL_VEC4(2) xt;
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#define B_AFTER_Y 4
#elif defined(WT_F16) || defined(WT_BF16)
TEXEL_UVEC4(0) wq;
TEXEL_VEC4(1) xt;
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#define B_AFTER_Y 3
#elif defined(WT_F32)
TEXEL_VEC4(0) wf;
TEXEL_VEC4(1) xt;
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#define B_AFTER_Y 3
#else
#error "no weight layout selected (-DWT_<NAME>)"
#endif

#ifdef QKV_ROPE
// The fused q/k/v product with RoPE and the KV-cache write (graph/ops.h matmul_rope_kv): rows
// 0..E-1 are q (rotated, to y = q_out [T x E]), E..E+KV-1 k (rotated, to k_cache row pos0 + t),
// E+KV..M-1 v (to v_cache row pos0 + t), as rope_kv.comp computes them (adjacent-pair layout).
layout(std430, binding = B_AFTER_Y) writeonly buffer KC { uint k_cache[]; };
layout(std430, binding = B_AFTER_Y + 1) writeonly buffer VC { uint v_cache[]; };
layout(std430, binding = B_AFTER_Y + 2) readonly buffer Step { uint pos0; uint n_past; } st;
layout(std430, binding = B_AFTER_Y + 3) readonly buffer F { float inv_freq[]; };
#define B_AFTER_EPILOGUE (B_AFTER_Y + 4)
#else
#define B_AFTER_EPILOGUE B_AFTER_Y
#endif

// Deferred RMSNorm (graph/ops.h Ops::NormIn / NormOut), in the rows-per-invocation and subgroup
// variants for one token (NT = 1; the code is specialized away for batches, whose LLVM compile it
// would double): the norm between two products without a dispatch of its own; p.norm picks it
// (with EPILOGUE_ANY one pipeline serves plain and norm products). Unused bindings alias y.
//   NORM_NONE  plain product
//   NORM_IN    x is weight * s for an un-normed s; the token's sums are scaled by
//              1 / sqrt(S / K + eps), S = the sum of its n_partials partials (the sum of s^2, a
//              multiple of 4 read as vec4 texels from partials_t), before the epilogue (GLU, RoPE)
//   NORM_OUT   the epilogue adds the residual and starts the next norm: s = residual + W x to
//              sum_out, y gets norm_w * s, norm_partials the sums of s^2: one per invocation with
//              rows per invocation, one per workgroup (zero-padded to a multiple of 4) with the K
//              split (no GLU or RoPE)
#if defined(LANE_ROWS) || defined(USE_SUBGROUP)
#define HAS_NORM
const uint NORM_NONE = 0u, NORM_IN = 1u, NORM_OUT = 2u;
layout(std430, binding = B_AFTER_EPILOGUE) writeonly buffer NP { float norm_partials[]; };
layout(std430, binding = B_AFTER_EPILOGUE + 1) readonly buffer R { float residual[]; };
layout(std430, binding = B_AFTER_EPILOGUE + 2) readonly buffer G { float norm_w[]; };
layout(std430, binding = B_AFTER_EPILOGUE + 3) writeonly buffer S { float sum_out[]; };
TEXEL_VEC4(B_AFTER_EPILOGUE + 4) partials_t;
#endif

layout(push_constant) uniform P {
  uint M;
  uint K;
  uint T;
  uint glu;  // rows 2j, 2j + 1 are gate and up rows: write silu(gate) * up (matvec_reduce.glsl)
#ifdef QKV_ROPE
  uint E, KV, head_dim, n_rot, ctx_len;
#endif
#ifdef HAS_NORM
  uint norm;  // NORM_NONE, NORM_IN or NORM_OUT
  uint n_partials;
  float eps;
#endif
} p;
// p.glu, a push constant, where EPILOGUE_ANY: one pipeline (one LLVM compile) serves the plain and
// the gated products of a batch.
#ifdef QKV_ROPE
#define PAIRS true
#else
#define PAIRS (EPILOGUE == EPILOGUE_ANY ? p.glu != 0u : EPILOGUE == EPILOGUE_GLU)
#endif
// Whether this product ends with NORM_OUT / takes NORM_IN (p.norm, unless EPILOGUE rules it out).
#define IS_NORM_OUT \
  (EPILOGUE == EPILOGUE_NORM_OUT || (EPILOGUE == EPILOGUE_ANY && p.norm == NORM_OUT))
#define IS_NORM_IN (EPILOGUE != EPILOGUE_NORM_OUT && p.norm == NORM_IN)

#include "glu.glsl"
#include "kv_cache.glsl"
#include "rope_common.glsl"

// Stores rows row, row + 1 (row even) of token t: silu(a) * b, or q/k rotated by RoPE and the
// k/v cache rows (QKV_ROPE).
void matvec_pair(uint row, uint t, float a, float b) {
#ifdef QKV_ROPE
  const uint pos = st.pos0 + t;
  if (row >= p.E + p.KV) {  // v: copied into the cache
    const uint j = row - p.E - p.KV;
    if (pos < p.ctx_len) {
      KV_STORE_PAIR(v_cache, pos * p.KV + j, a, b);
    }
    return;
  }
  const bool is_q = row < p.E;
  const uint j = is_q ? row : row - p.E;  // element of the q or k row
  const uint i = (j % p.head_dim) / 2;     // pair of the head; pairs past n_rot / 2 are copied
  float o0 = a, o1 = b;
  if (i < p.n_rot / 2) {
    precise const float angle = float(pos) * inv_freq[i];
    const float theta = reduce_angle(angle);
    const float c = cos(theta), s = sin(theta);
    o0 = a * c - b * s;
    o1 = a * s + b * c;
  }
  if (is_q) {
    y[t * p.E + j] = o0;
    y[t * p.E + j + 1] = o1;
  } else if (pos < p.ctx_len) {
    KV_STORE_PAIR(k_cache, pos * p.KV + j, o0, o1);
  }
#else
  y[t * (p.M / 2) + row / 2] = glu(a, b);
#endif
}

#include "planar.glsl"

#ifdef HAS_NORM
// NORM_OUT: row `row` < M of token t < T: s = residual + v to sum_out, norm_w * s to y; returns s^2.
float norm_out_store(uint row, uint t, float v) {
  const uint i = t * p.M + row;
  const float s = residual[i] + v;
  sum_out[i] = s;
  y[i] = norm_w[row] * s;
  return s * s;
}
#endif

#ifdef LANE_ROWS
float acc[NR * NT];  // acc[row * NT + t]
#else
#include "matvec_reduce.glsl"  // declares acc
#endif

#ifdef HAS_NORM
// NORM_IN (one token, t): scales this invocation's sums by the token's norm factor (before any
// reduction: the factor is the same for every row).
void norm_in_scale(uint t) {
  const uint n4 = p.n_partials / 4u, base = t * n4;
  vec4 s4 = vec4(0.0);
  for (uint i = 0; i < n4; ++i) s4 += FETCH(partials_t, int(base + i));
  const float r = inversesqrt(((s4.x + s4.y) + (s4.z + s4.w)) / float(p.K) + p.eps);
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) acc[i] *= r;
}
#endif

// Independent FMA chains per token and row block: one token's 32 products summed in a single
// chain are bound by the FMA latency, not its throughput.
const uint CHAINS = NT >= 4 ? 1 : 4;
// The halves of a Q6_K, Q3_K or Q2_K block have their own parameters: a sum for each.
#ifdef P_HALVES
const uint HALVES = 2;
#else
const uint HALVES = 1;
#endif

uint xrow[NT];  // first vec4 texel of each token's x row (tokens past T re-read token T - 1)

// Adds block b of rows row0..row0 + NR - 1 times the NT tokens' x to acc. The x values of the
// block are loaded once for all NR rows, each row's block is decoded once for all NT tokens
// (tokens innermost). Rows past M re-read row M - 1 and are never written. The rows loop is
// unrolled: with a loop counter the acc[r * NT + t] updates would be indexed stores, which
// llvmpipe turns into per-lane scatter loops (measured: pp128 ~130 -> ~160 tok/s unrolled).
void accumulate_block(uint b, uint row0, uint nb) {
  float xv[NT * 32];
#if defined(P_ZERO) || defined(P_K_MIN)
  float xs[HALVES * NT];  // xs[h * NT + t]: sum of the half's (block's) x per token (times P_ZERO)
#endif
  [[unroll]] for (uint t = 0; t < NT; ++t) {
    vec4 s4[HALVES];
    [[unroll]] for (uint h = 0; h < HALVES; ++h) s4[h] = vec4(0.0);
    [[unroll]] for (uint j = 0; j < 8; ++j) {
      const vec4 v = FETCH(xt, int(xrow[t] + b * 8 + j));
      s4[HALVES == 2u ? j / 4u : 0u] += v;
      [[unroll]] for (uint c = 0; c < 4; ++c) xv[t * 32 + 4 * j + c] = v[c];
    }
#if defined(P_ZERO) || defined(P_K_MIN)
    [[unroll]] for (uint h = 0; h < HALVES; ++h) {
#ifdef P_ZERO
      xs[h * NT + t] = P_ZERO * (s4[h].x + s4[h].y + s4[h].z + s4[h].w);
#else
      xs[h * NT + t] = s4[h].x + s4[h].y + s4[h].z + s4[h].w;
#endif
    }
#endif
  }
#ifdef P_SCALE_F16
  uvec4 sv;
#endif
#ifdef P_K_PARAMS
  vec4 ka, kb;  // the parameters of 4 rows: fetched per 4 rows, fewer values live than per 8
#endif
#ifdef P_K_PARAMS4
  vec4 kc, ke;  // Q2_K's second half's
#endif
  [[unroll]] for (uint r = 0; r < NR; ++r) {
    const uint m = min(row0 + r, p.M - 1);
    float q[32];
    w_block(m, nb, b, q);
    // The scale texel of a group of 8 rows (the parameter texels of 4) once where NR is a
    // multiple of 8 (4; row0 then is too, so row r's slot is r % 8; clamped rows past M read a
    // wrong slot but are not written).
    const uint slot = (NR % 8 == 0 ? r : m) % 8;
#ifdef P_SCALE_F16
    if (NR % 8 != 0 || r % 8 == 0) sv = FETCH(wd, int(s_texel(m, b, nb)));
    const float d = w_scale(sv, slot);
#endif
#ifdef P_K_PARAMS
    if (NR % 4 != 0 || r % 4 == 0) k_params(m, b, nb, ka, kb);
    const float pa = ka[slot % 4], pb = kb[slot % 4];
#endif
#ifdef P_K_PARAMS4
    if (NR % 4 != 0 || r % 4 == 0) {
      kc = k_param(m, b, nb, 2u);
      ke = k_param(m, b, nb, 3u);
    }
    const float pc = kc[slot % 4], pe = ke[slot % 4];
#endif
    float c[HALVES * NT * CHAINS];
    [[unroll]] for (uint i = 0; i < HALVES * NT * CHAINS; ++i) c[i] = 0.0;
    [[unroll]] for (uint i = 0; i < 32; ++i) {
      [[unroll]] for (uint t = 0; t < NT; ++t) {
        const uint ci = ((HALVES == 2u ? i / 16u : 0u) * NT + t) * CHAINS + i % CHAINS;
        c[ci] = fma(q[i], xv[t * 32 + i], c[ci]);
      }
    }
    float s[HALVES * NT];  // s[h * NT + t]: half h's (or the block's) sum for token t
    [[unroll]] for (uint i = 0; i < HALVES * NT; ++i) {
      s[i] = c[i * CHAINS];
      [[unroll]] for (uint j = 1; j < CHAINS; ++j) s[i] += c[i * CHAINS + j];
    }
    [[unroll]] for (uint t = 0; t < NT; ++t) {
#if defined(WT_Q4_0)
      acc[r * NT + t] = fma(d, s[t] - xs[t], acc[r * NT + t]);
#elif defined(P_K_PARAMS4)
      const float a2 = fma(pc, s[NT + t], fma(-pe, xs[NT + t], acc[r * NT + t]));
      acc[r * NT + t] = fma(pa, s[t], fma(-pb, xs[t], a2));
#elif defined(P_K_MIN)
      acc[r * NT + t] = fma(pa, s[t], fma(-pb, xs[t], acc[r * NT + t]));
#elif defined(WT_Q3_K)
      acc[r * NT + t] = fma(pa, s[t] - xs[t], fma(pb, s[NT + t] - xs[NT + t], acc[r * NT + t]));
#elif defined(WT_Q6_K)
      acc[r * NT + t] = fma(pa, s[t], fma(pb, s[NT + t], acc[r * NT + t]));
#elif defined(P_SCALE_F16)
      acc[r * NT + t] = fma(d, s[t], acc[r * NT + t]);
#else
      acc[r * NT + t] += s[t];
#endif
    }
  }
}

#ifdef LANE_ROWS
// Rows per invocation: each of the WG invocations owns NR consecutive rows for the NT tokens over
// all of K, so nothing is reduced across invocations; all invocations fetch the same x texels.
// On CPU drivers this beats the K split for batches: cross-invocation reductions are per-lane
// loops there.
void main() {
  const uint rows_wg = WG * NR;
  const uint m_blocks = (p.M + rows_wg - 1) / rows_wg;
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (block >= m_blocks * ((p.T + NT - 1) / NT)) return;  // uniform across the workgroup
  const uint row0 = (block % m_blocks) * rows_wg + gl_LocalInvocationID.x * NR;
  const uint t0 = (block / m_blocks) * NT;
  const uint nb = p.K / 32;
  [[unroll]] for (uint t = 0; t < NT; ++t) xrow[t] = min(t0 + t, p.T - 1) * (p.K / 4);
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) acc[i] = 0.0;

  for (uint b = 0; b < nb; ++b) accumulate_block(b, row0, nb);
  if (NT == 1u && IS_NORM_IN) norm_in_scale(t0);

#ifndef QKV_ROPE
  if (NT == 1u && IS_NORM_OUT) {
    // One partial per invocation (its rows' sum of s^2; 0 past M): no cross-invocation reduction,
    // which on llvmpipe would need a barrier (a coroutine split of the whole kernel).
    float ss = 0.0;
    [[unroll]] for (uint r = 0; r < NR; ++r) {
      if (row0 + r < p.M) ss += norm_out_store(row0 + r, t0, acc[r]);
    }
    norm_partials[block * WG + gl_LocalInvocationID.x] = ss;
    return;
  }
#endif

#ifdef QKV_ROPE
  // The RoPE epilogue (with its sin and cos) in a loop over the tokens rather than NT unrolled
  // copies, for a shorter LLVM compile (110M Q4_0 cold first token ~2.9 -> ~2.5 s). The loop
  // reads a copy of acc, so acc itself stays directly indexed (registers) in the block loop.
  float sums[NR * NT];
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) sums[i] = acc[i];
  [[dont_unroll]] for (uint t = 0; t < NT; ++t) {
    if (t0 + t >= p.T) break;
    [[unroll]] for (uint j = 0; j < NR / 2; ++j) {
      const uint row = row0 + 2 * j;
      if (row + 1 < p.M) matvec_pair(row, t0 + t, sums[2 * j * NT + t], sums[(2 * j + 1) * NT + t]);
    }
  }
  return;
#endif
  [[unroll]] for (uint t = 0; t < NT; ++t) {
    if (t0 + t >= p.T) break;
    if (PAIRS) {
      [[unroll]] for (uint j = 0; j < NR / 2; ++j) {
        const uint row = row0 + 2 * j;
        if (row + 1 < p.M) matvec_pair(row, t0 + t, acc[2 * j * NT + t], acc[(2 * j + 1) * NT + t]);
      }
    } else {
      [[unroll]] for (uint r = 0; r < NR; ++r) {
        if (row0 + r < p.M) y[(t0 + t) * p.M + row0 + r] = acc[r * NT + t];
      }
    }
  }
}

#else
// The K split: a workgroup owns NR consecutive rows for NT tokens, its invocations walk strided
// slices of the rows' blocks, and matvec_reduce.glsl sums them.
void main() {
  const uint m_blocks = (p.M + NR - 1) / NR;
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (block >= m_blocks * ((p.T + NT - 1) / NT)) return;  // uniform across the workgroup
  const uint row0 = (block % m_blocks) * NR, t0 = (block / m_blocks) * NT;
  const uint tid = gl_LocalInvocationID.x;
  const uint nb = p.K / 32;
  [[unroll]] for (uint t = 0; t < NT; ++t) xrow[t] = min(t0 + t, p.T - 1) * (p.K / 4);
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) acc[i] = 0.0;

  for (uint b = tid; b < nb; b += WG) accumulate_block(b, row0, nb);
#ifdef HAS_NORM
  if (NT == 1u && p.norm == NORM_IN) norm_in_scale(t0);
#endif

  matvec_store(row0, t0, tid);
}

#endif  // LANE_ROWS
