#version 450
// Fused RoPE + KV-cache write for one batch of T tokens (token t at position pos0 + t, pos0 from
// the step buffer):
//   q_out[t, h*hd + ..]              = rope(q[t*q_stride + q_offset + h*hd + ..])   h < n_heads
//   k_cache[(pos0+t)*kv + g*hd + ..] = rope(k[t*k_stride + k_offset + g*hd + ..])   g < n_kv_heads
//   v_cache[(pos0+t)*kv + j]         = v[t*v_stride + v_offset + j]                 j < kv
// where kv = n_kv_heads * hd. Strides and offsets let q, k and v be column slices of one fused
// QKV product (the same buffer bound three times). Rows at or
// past ctx_len are not written. One thread per element pair; rotation as in rope.comp. The caches
// hold f32 or, with KV_HALF, f16 elements (kv_cache.glsl; KV_HALF needs NEOX = 0, whose rotated
// pairs are adjacent).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "kv_cache.glsl"
#include "rope_common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint NEOX = 0;
layout(constant_id = 2) const uint KV_HALF = 0;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer QO { float q_out[]; };
layout(std430, binding = 4) writeonly buffer KC { uint k_cache[]; };
layout(std430, binding = 5) writeonly buffer VC { uint v_cache[]; };
layout(std430, binding = 6) readonly buffer Step { uint pos0; uint n_past; } st;
layout(std430, binding = 7) readonly buffer F { float inv_freq[]; };
layout(push_constant) uniform P {
  uint head_dim;
  uint n_heads;
  uint n_kv_heads;
  uint T;
  uint n_rot;
  uint ctx_len;
  uint q_stride, q_offset;
  uint k_stride, k_offset;
  uint v_stride, v_offset;
} p;

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint per_token = (p.n_heads + 2 * p.n_kv_heads) * half_dim;  // pairs: q, k, v heads
  const uint idx = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (idx >= p.T * per_token) return;
  const uint t = idx / per_token;
  uint r = idx % per_token;
  const uint pos = st.pos0 + t;
  const uint kv = p.n_kv_heads * p.head_dim;

  if (r >= (p.n_heads + p.n_kv_heads) * half_dim) {  // V: a plain copy of one pair
    if (pos >= p.ctx_len) return;
    const uint j = 2 * (r - (p.n_heads + p.n_kv_heads) * half_dim);
    KV_STORE_PAIR(v_cache, pos * kv + j, v[t * p.v_stride + p.v_offset + j],
                  v[t * p.v_stride + p.v_offset + j + 1]);
    return;
  }
  const bool is_q = r < p.n_heads * half_dim;
  if (!is_q) {
    r -= p.n_heads * half_dim;
    if (pos >= p.ctx_len) return;
  }
  const uint head = r / half_dim, i = r % half_dim;
  const uint src =
      (is_q ? t * p.q_stride + p.q_offset : t * p.k_stride + p.k_offset) + head * p.head_dim;
  const uint dst = is_q ? t * p.n_heads * p.head_dim + head * p.head_dim
                        : pos * kv + head * p.head_dim;
  const uint half_rot = p.n_rot / 2;
  uint o0, o1;
  float a, b;
  if (i >= half_rot) {  // dims n_rot..head_dim-1 are copied
    o0 = 2 * i;
    o1 = 2 * i + 1;
    a = is_q ? q[src + o0] : k[src + o0];
    b = is_q ? q[src + o1] : k[src + o1];
  } else {
    o0 = NEOX != 0 ? i : 2 * i;
    o1 = NEOX != 0 ? i + half_rot : 2 * i + 1;
    const float x0 = is_q ? q[src + o0] : k[src + o0];
    const float x1 = is_q ? q[src + o1] : k[src + o1];
    precise const float angle = float(pos) * inv_freq[i];
    const float theta = reduce_angle(angle);
    const float c = cos(theta), s = sin(theta);
    a = x0 * c - x1 * s;
    b = x0 * s + x1 * c;
  }
  if (is_q) {
    q_out[dst + o0] = a;
    q_out[dst + o1] = b;
  } else if (KV_HALF != 0u) {
    k_cache[(dst + o0) / 2u] = packHalf2x16(vec2(a, b));  // o1 = o0 + 1 (no NeoX), dst + o0 even
  } else {
    k_cache[dst + o0] = floatBitsToUint(a);
    k_cache[dst + o1] = floatBitsToUint(b);
  }
}
