#version 450
// Causal attention with grouped-query heads over a KV cache, for any context length.
//   q:   [T x n_heads * head_dim]        k, v: [ctx_len x n_kv_heads * head_dim]
//   out: [T x n_heads * head_dim]
// Token t of the batch is at position pos = pos0 + t (pos0 from the step buffer); it attends to
// cache positions 0..pos. Query head h reads kv head h / (n_heads / n_kv_heads).
// One workgroup per (head, token). Keys are processed in tiles of TILE: each thread scores some
// keys of the tile (scores held in shared memory), the workgroup reduces the tile's max and sum, and
// each thread rescales and accumulates the output dims it owns (online softmax), so shared memory
// does not grow with the context.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "kv_cache.glsl"

layout(constant_id = 0) const uint WG = 64;     // power of two, >= MAX_HEAD_DIM / DIMS
layout(constant_id = 1) const uint TILE = 256;  // keys per tile
layout(constant_id = 2) const uint KV_HALF = 0;  // f16 cache elements (kv_cache.glsl)
layout(local_size_x_id = 0) in;

const uint MAX_HEAD_DIM = 256;
const uint DIMS = 8;  // output dims per thread at most (head_dim <= DIMS * WG)

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { uint k[]; };
layout(std430, binding = 2) readonly buffer V { uint v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer Step { uint pos0; uint n_past; } st;
layout(push_constant) uniform P {
  uint head_dim;
  uint n_heads;
  uint n_kv_heads;
  uint T;
  uint ctx_len;
  float scale;
} p;

shared float q_sh[MAX_HEAD_DIM];
shared float s_sh[TILE];
shared float red[WG];

float reduce_max(float x, uint tid) {
  red[tid] = x;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] = max(red[tid], red[tid + s]);
    barrier();
  }
  const float r = red[0];
  barrier();  // red is reused by the next reduction
  return r;
}

float reduce_sum(float x, uint tid) {
  red[tid] = x;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    barrier();
  }
  const float r = red[0];
  barrier();
  return r;
}

void main() {
  const uint h = gl_WorkGroupID.x;
  const uint t = gl_WorkGroupID.y;
  const uint tid = gl_LocalInvocationID.x;
  const uint hd = p.head_dim;
  const uint kvh = h / (p.n_heads / p.n_kv_heads);
  const uint kv_stride = p.n_kv_heads * hd;
  const uint kv_off = kvh * hd;
  const uint q_off = (t * p.n_heads + h) * hd;
  const uint n_keys = min(st.pos0 + t + 1, p.ctx_len);

  for (uint d = tid; d < hd; d += WG) q_sh[d] = q[q_off + d];
  barrier();

  float acc[DIMS];
  [[unroll]] for (uint j = 0; j < DIMS; ++j) acc[j] = 0.0;
  float m = -3.0e38;  // running max of the scaled scores
  float l = 0.0;      // running sum of exp(score - m)

  for (uint k0 = 0; k0 < n_keys; k0 += TILE) {
    const uint nk = min(TILE, n_keys - k0);

    // Scores of this tile: one key per thread at a time.
    float tmax = -3.0e38;
    for (uint j = tid; j < nk; j += WG) {
      const uint kb = (k0 + j) * kv_stride + kv_off;
      float dot = 0.0;
      for (uint d = 0; d < hd; ++d) dot = fma(q_sh[d], KV_LOAD(k, kb + d), dot);
      const float sc = dot * p.scale;
      s_sh[j] = sc;
      tmax = max(tmax, sc);
    }
    const float m_new = max(m, reduce_max(tmax, tid));  // barrier inside: s_sh complete

    float tsum = 0.0;
    for (uint j = tid; j < nk; j += WG) {
      const float e = exp(s_sh[j] - m_new);
      s_sh[j] = e;
      tsum += e;
    }
    const float tile_sum = reduce_sum(tsum, tid);  // barrier inside: weights complete
    const float corr = exp(m - m_new);
    l = l * corr + tile_sum;
    m = m_new;

    [[unroll]] for (uint j = 0; j < DIMS; ++j) {
      const uint d = tid + j * WG;
      if (d < hd) {
        float a = acc[j] * corr;
        for (uint key = 0; key < nk; ++key)
          a = fma(s_sh[key], KV_LOAD(v, (k0 + key) * kv_stride + kv_off + d), a);
        acc[j] = a;
      }
    }
    barrier();  // s_sh is overwritten by the next tile
  }

  const float inv_l = 1.0 / l;
  [[unroll]] for (uint j = 0; j < DIMS; ++j) {
    const uint d = tid + j * WG;
    if (d < hd) o[q_off + d] = acc[j] * inv_l;
  }
}
