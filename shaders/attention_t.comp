#version 450
// Causal grouped-query attention over a KV cache, q/k/v read through texel buffers
// (vec4 texels, R32G32B32A32_SFLOAT; with -DKV_HALF the caches hold f16 elements, read as
// R32G32B32A32_UINT texels of 8 halves, HD a multiple of 8):
//   q:   [T x n_heads * HD]        k, v: [ctx_len x n_kv_heads * HD]
//   out: [T x n_heads * HD] (storage buffer)
// Token t of the batch is at position pos0 + t (pos0 from the step buffer) and attends to cache
// positions 0..pos; query head h reads kv head h / (n_heads / n_kv_heads).
// One workgroup = one subgroup per (head, QT consecutive tokens). Each invocation walks keys tid,
// tid + WG, ... (fetching each key and value once for the QT tokens) with, per token, its own
// online softmax (running max m, sum l, and output accumulator acc), then the
// subgroup merges the WG partial results: m* = max m, acc = sum acc * exp(m - m*), l likewise.
// No shared memory in the key loop: on CPU drivers shared and storage loads are per-lane loops,
// texel fetches are vector gathers. HD (head_dim, a multiple of 4) is a specialization constant
// so the per-dimension loops unroll.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "texel.glsl"

layout(constant_id = 0) const uint WG = 8;   // the subgroup size
layout(constant_id = 1) const uint HD = 64;  // head_dim
layout(constant_id = 2) const uint QT = 1;   // consecutive tokens per workgroup (batches)
layout(local_size_x_id = 0) in;

const uint HD4 = HD / 4;
#ifdef KV_HALF
const uint KV_TEXELS = HD / 8;  // texels per head row
#else
const uint KV_TEXELS = HD4;
#endif

#ifdef KV_HALF
// Texel e of a cache row (8 halves) as dims 4 d' .. 4 d' + 3 for d' = 2 e (lo) and 2 e + 1 (hi).
void kv_unpack(uvec4 w, out vec4 lo, out vec4 hi) {
  lo = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
  hi = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
}
#endif

TEXEL_VEC4(0) q;
#ifdef KV_HALF
TEXEL_UVEC4(1) k;
TEXEL_UVEC4(2) v;
#else
TEXEL_VEC4(1) k;
TEXEL_VEC4(2) v;
#endif
layout(std430, binding = 3) writeonly buffer O { vec4 o[]; };
layout(std430, binding = 4) readonly buffer Step { uint pos0; uint n_past; } st;
layout(push_constant) uniform P {
  uint n_heads;
  uint n_kv_heads;
  uint T;
  uint ctx_len;
  float scale;
} p;

void main() {
  const uint h = gl_WorkGroupID.x;
  const uint t0 = gl_WorkGroupID.y * QT;  // the group's first token
  const uint nt = min(QT, p.T - t0);      // its tokens (1..QT)
  const uint tid = gl_SubgroupInvocationID;
  const uint kvh = h / (p.n_heads / p.n_kv_heads);
  const uint kv_stride = p.n_kv_heads * KV_TEXELS;  // in texels
  const uint kv_off = kvh * KV_TEXELS;
  // Keys of the group's last token: the earlier tokens' keys are a prefix of them.
  const uint n_keys_max = min(st.pos0 + t0 + nt, p.ctx_len);

  vec4 qv[QT][HD4];
  uint n_keys[QT];
  [[unroll]] for (uint i = 0; i < QT; ++i) {
    // Tokens past the batch repeat its last one (loads stay in range; nothing is stored for them).
    const uint q_off = (min(t0 + i, p.T - 1) * p.n_heads + h) * HD4;
    [[unroll]] for (uint d = 0; d < HD4; ++d) qv[i][d] = FETCH(q, int(q_off + d)) * p.scale;
    n_keys[i] = min(st.pos0 + t0 + i + 1, p.ctx_len);
  }
  vec4 acc[QT][HD4];
  float m[QT];  // running max of this invocation's scores, per token
  float l[QT];  // running sum of exp(score - m)
  [[unroll]] for (uint i = 0; i < QT; ++i) {
    [[unroll]] for (uint d = 0; d < HD4; ++d) acc[i][d] = vec4(0.0);
    m[i] = -3.0e38;
    l[i] = 0.0;
  }

  for (uint j = tid; j < n_keys_max; j += WG) {
    const uint kb = j * kv_stride + kv_off;
    // Four independent FMA chains per token: one chain of HD / 4 is bound by the FMA latency.
    // Each key texel is fetched once for the group's QT tokens.
    vec4 s4[QT][4];
    [[unroll]] for (uint i = 0; i < QT; ++i)
      s4[i] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
#ifdef KV_HALF
    [[unroll]] for (uint e = 0; e < KV_TEXELS; ++e) {
      vec4 lo, hi;
      kv_unpack(FETCH(k, kb + e), lo, hi);
      [[unroll]] for (uint i = 0; i < QT; ++i) {
        s4[i][(2 * e) % 4] = fma(qv[i][2 * e], lo, s4[i][(2 * e) % 4]);
        s4[i][(2 * e + 1) % 4] = fma(qv[i][2 * e + 1], hi, s4[i][(2 * e + 1) % 4]);
      }
    }
#else
    [[unroll]] for (uint d = 0; d < HD4; ++d) {
      const vec4 kd = FETCH(k, int(kb + d));
      [[unroll]] for (uint i = 0; i < QT; ++i) s4[i][d % 4] = fma(qv[i][d], kd, s4[i][d % 4]);
    }
#endif
    // Per token: the online softmax step. A key after the token's position (the causal mask,
    // only inside the group's last QT keys) leaves m, l and acc exactly as they were (corr 1,
    // weight 0), so each token's result does not depend on QT.
    float corr[QT], e[QT];
    [[unroll]] for (uint i = 0; i < QT; ++i) {
      const vec4 s2 = (s4[i][0] + s4[i][1]) + (s4[i][2] + s4[i][3]);
      const float s = (s2.x + s2.y) + (s2.z + s2.w);
      const bool valid = QT == 1 || j < n_keys[i];
      const float m_new = valid ? max(m[i], s) : m[i];
      corr[i] = valid ? exp(m[i] - m_new) : 1.0;
      e[i] = valid ? exp(s - m_new) : 0.0;
      l[i] = fma(l[i], corr[i], e[i]);
      m[i] = m_new;
    }
#ifdef KV_HALF
    [[unroll]] for (uint t8 = 0; t8 < KV_TEXELS; ++t8) {
      vec4 lo, hi;
      kv_unpack(FETCH(v, kb + t8), lo, hi);
      [[unroll]] for (uint i = 0; i < QT; ++i) {
        acc[i][2 * t8] = fma(acc[i][2 * t8], vec4(corr[i]), e[i] * lo);
        acc[i][2 * t8 + 1] = fma(acc[i][2 * t8 + 1], vec4(corr[i]), e[i] * hi);
      }
    }
#else
    [[unroll]] for (uint d = 0; d < HD4; ++d) {
      const vec4 vd = FETCH(v, int(kb + d));
      [[unroll]] for (uint i = 0; i < QT; ++i)
        acc[i][d] = fma(acc[i][d], vec4(corr[i]), e[i] * vd);
    }
#endif
  }

  // Merge the invocations' partial softmaxes (invocations without keys have l = 0, acc = 0 and
  // m = -3e38, so their weight exp(m - m_all) is 0).
  [[unroll]] for (uint i = 0; i < QT; ++i) {
    const float m_all = subgroupMax(m[i]);
    const float w = exp(m[i] - m_all);
    const float inv_l = 1.0 / subgroupAdd(l[i] * w);
    const uint q_off = ((t0 + i) * p.n_heads + h) * HD4;
    [[unroll]] for (uint d = 0; d < HD4; ++d) {
      const vec4 a = subgroupAdd(acc[i][d] * w) * inv_l;
      if (i < nt && subgroupElect()) o[q_off + d] = a;
    }
  }
}
