#version 450
// Causal grouped-query attention over a KV cache, q/k/v read through uniform texel buffers
// (vec4 texels, R32G32B32A32_SFLOAT; with -DKV_HALF the caches hold f16 elements, read as
// R32G32B32A32_UINT texels of 8 halves, HD a multiple of 8):
//   q:   [T x n_heads * HD]        k, v: [ctx_len x n_kv_heads * HD]
//   out: [T x n_heads * HD] (storage buffer)
// Token t of the batch is at position pos0 + t (pos0 from the step buffer) and attends to cache
// positions 0..pos; query head h reads kv head h / (n_heads / n_kv_heads).
// One workgroup = one subgroup per (head, token). Each invocation walks keys tid, tid + WG, ...
// with its own online softmax (running max m, sum l, and output accumulator acc), then the
// subgroup merges the WG partial results: m* = max m, acc = sum acc * exp(m - m*), l likewise.
// No shared memory in the key loop: on CPU drivers shared and storage loads are per-lane loops,
// texel fetches are vector gathers. HD (head_dim, a multiple of 4) is a specialization constant
// so the per-dimension loops unroll.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(constant_id = 0) const uint WG = 8;   // the subgroup size
layout(constant_id = 1) const uint HD = 64;  // head_dim
layout(local_size_x_id = 0) in;

const uint HD4 = HD / 4;
#ifdef KV_HALF
const uint KV_TEXELS = HD / 8;  // texels per head row
#else
const uint KV_TEXELS = HD4;
#endif

// Dims 4 d' .. 4 d' + 3 of the cache row starting at texel kb, for d' = 2 e and 2 e + 1 (f16)
// or d' = e (f32), from its texel e.
#ifdef KV_HALF
void kv_texel(usamplerBuffer c, uint kb, uint e, out vec4 lo, out vec4 hi) {
  const uvec4 w = texelFetch(c, int(kb + e));
  lo = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
  hi = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
}
#endif

layout(binding = 0) uniform samplerBuffer q;
#ifdef KV_HALF
layout(binding = 1) uniform usamplerBuffer k;
layout(binding = 2) uniform usamplerBuffer v;
#else
layout(binding = 1) uniform samplerBuffer k;
layout(binding = 2) uniform samplerBuffer v;
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
  const uint t = gl_WorkGroupID.y;
  const uint tid = gl_SubgroupInvocationID;
  const uint kvh = h / (p.n_heads / p.n_kv_heads);
  const uint kv_stride = p.n_kv_heads * KV_TEXELS;  // in texels
  const uint kv_off = kvh * KV_TEXELS;
  const uint q_off = (t * p.n_heads + h) * HD4;
  const uint n_keys = min(st.pos0 + t + 1, p.ctx_len);

  vec4 qv[HD4];
  [[unroll]] for (uint d = 0; d < HD4; ++d) qv[d] = texelFetch(q, int(q_off + d)) * p.scale;
  vec4 acc[HD4];
  [[unroll]] for (uint d = 0; d < HD4; ++d) acc[d] = vec4(0.0);
  float m = -3.0e38;  // running max of this invocation's scores
  float l = 0.0;      // running sum of exp(score - m)

  for (uint j = tid; j < n_keys; j += WG) {
    const uint kb = j * kv_stride + kv_off;
    // Four independent FMA chains: one chain of HD / 4 is bound by the FMA latency.
    vec4 s4[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
#ifdef KV_HALF
    [[unroll]] for (uint e = 0; e < KV_TEXELS; ++e) {
      vec4 lo, hi;
      kv_texel(k, kb, e, lo, hi);
      s4[(2 * e) % 4] = fma(qv[2 * e], lo, s4[(2 * e) % 4]);
      s4[(2 * e + 1) % 4] = fma(qv[2 * e + 1], hi, s4[(2 * e + 1) % 4]);
    }
#else
    [[unroll]] for (uint d = 0; d < HD4; ++d)
      s4[d % 4] = fma(qv[d], texelFetch(k, int(kb + d)), s4[d % 4]);
#endif
    const vec4 s2 = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    const float s = (s2.x + s2.y) + (s2.z + s2.w);
    const float m_new = max(m, s);
    const float corr = exp(m - m_new), e = exp(s - m_new);
    l = fma(l, corr, e);
    m = m_new;
#ifdef KV_HALF
    [[unroll]] for (uint t8 = 0; t8 < KV_TEXELS; ++t8) {
      vec4 lo, hi;
      kv_texel(v, kb, t8, lo, hi);
      acc[2 * t8] = fma(acc[2 * t8], vec4(corr), e * lo);
      acc[2 * t8 + 1] = fma(acc[2 * t8 + 1], vec4(corr), e * hi);
    }
#else
    [[unroll]] for (uint d = 0; d < HD4; ++d)
      acc[d] = fma(acc[d], vec4(corr), e * texelFetch(v, int(kb + d)));
#endif
  }

  // Merge the invocations' partial softmaxes (invocations without keys have l = 0, acc = 0 and
  // m = -3e38, so their weight exp(m - m_all) is 0).
  const float m_all = subgroupMax(m);
  const float w = exp(m - m_all);
  const float inv_l = 1.0 / subgroupAdd(l * w);
  [[unroll]] for (uint d = 0; d < HD4; ++d) {
    const vec4 a = subgroupAdd(acc[d] * w) * inv_l;
    if (subgroupElect()) o[q_off + d] = a;
  }
}
