#version 450
// Tiled matrix-matrix product (T tokens): y[t, m] = sum_k W[m, k] * x[t, k], f32 accumulation.
//   W: [M x K] row-major, f32 (default) or f16 (WEIGHT_F16: uint words of two halves, K even)
//   x: [T x K] f32   y: [T x M] f32
// A workgroup computes a BM x BN block of (rows of W) x (tokens). It walks K in slices of BK: the
// threads stage a BM x BK tile of W and a BN x BK tile of x in shared memory (zero past the edges),
// then each thread accumulates a 4 x 4 block of outputs: per k it reads one vec4 of 4 weights and
// one vec4 of 4 tokens from shared memory for 16 FMAs (few loads per FMA matters on CPU devices,
// where shared and storage loads are scalarised per lane). WG == (BM / 4) * (BN / 4). Workgroups are
// numbered linearly over (row block, token block), folded into y when over the x limit.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint BM = 32;  // multiple of 4
layout(constant_id = 2) const uint BN = 32;  // multiple of 4
layout(constant_id = 3) const uint BK = 16;  // even
layout(local_size_x_id = 0) in;

#ifdef WEIGHT_F16
layout(std430, binding = 0) readonly buffer W { uint w[]; };
#else
layout(std430, binding = 0) readonly buffer W { float w[]; };
#endif
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint M;
  uint K;
  uint T;
} p;

shared vec4 ws[BK * (BM / 4)];  // ws[k * (BM / 4) + q] = W[m0 + 4q .. 4q + 3, k0 + k]
shared vec4 xs[BK * (BN / 4)];  // xs[k * (BN / 4) + q] = x[t0 + 4q .. 4q + 3, k0 + k]

#ifdef WEIGHT_F16
// W[m, k] and W[m, k + 1] (k even), zero outside the matrix.
vec2 load_w2(uint m, uint k) {
  return (m < p.M && k < p.K) ? unpackHalf2x16(w[m * (p.K / 2) + k / 2]) : vec2(0.0);
}
#else
float load_w(uint m, uint k) {
  return (m < p.M && k < p.K) ? w[m * p.K + k] : 0.0;
}
#endif

float load_x(uint t, uint k) {
  return (t < p.T && k < p.K) ? x[t * p.K + k] : 0.0;
}

void main() {
  const uint m_blocks = (p.M + BM - 1) / BM;
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (block >= m_blocks * ((p.T + BN - 1) / BN)) return;  // uniform across the workgroup
  const uint m0 = (block % m_blocks) * BM;
  const uint t0 = (block / m_blocks) * BN;
  const uint tid = gl_LocalInvocationID.x;
  // This thread's outputs: rows m0 + 4 * tm + i, tokens t0 + 4 * tn + j (i, j < 4).
  const uint tm = tid % (BM / 4);
  const uint tn = tid / (BM / 4);

  vec4 acc[4];  // acc[j][i]
  [[unroll]] for (uint j = 0; j < 4; ++j) acc[j] = vec4(0.0);

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    // Stage the tiles; consecutive threads take consecutive k (contiguous in memory).
#ifdef WEIGHT_F16
    for (uint e = tid; e < (BM / 4) * (BK / 2); e += WG) {
      const uint q = e / (BK / 2), kk = 2 * (e % (BK / 2));
      const uint m = m0 + 4 * q, k = k0 + kk;
      const vec2 r0 = load_w2(m, k), r1 = load_w2(m + 1, k), r2 = load_w2(m + 2, k),
                 r3 = load_w2(m + 3, k);
      ws[kk * (BM / 4) + q] = vec4(r0.x, r1.x, r2.x, r3.x);
      ws[(kk + 1) * (BM / 4) + q] = vec4(r0.y, r1.y, r2.y, r3.y);
    }
#else
    for (uint e = tid; e < (BM / 4) * BK; e += WG) {
      const uint q = e / BK, kk = e % BK;
      const uint m = m0 + 4 * q, k = k0 + kk;
      ws[kk * (BM / 4) + q] = vec4(load_w(m, k), load_w(m + 1, k), load_w(m + 2, k), load_w(m + 3, k));
    }
#endif
    for (uint e = tid; e < (BN / 4) * BK; e += WG) {
      const uint q = e / BK, kk = e % BK;
      const uint t = t0 + 4 * q, k = k0 + kk;
      xs[kk * (BN / 4) + q] = vec4(load_x(t, k), load_x(t + 1, k), load_x(t + 2, k), load_x(t + 3, k));
    }
    barrier();

    [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
      const vec4 a = ws[kk * (BM / 4) + tm];
      const vec4 b = xs[kk * (BN / 4) + tn];
      [[unroll]] for (uint j = 0; j < 4; ++j) acc[j] = fma(a, vec4(b[j]), acc[j]);
    }
    barrier();
  }

  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint t = t0 + 4 * tn + j;
    if (t >= p.T) break;
    [[unroll]] for (uint i = 0; i < 4; ++i) {
      const uint m = m0 + 4 * tm + i;
      if (m < p.M) y[t * p.M + m] = acc[j][i];
    }
  }
}
