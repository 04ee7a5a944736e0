#version 450
// Matrix-matrix product for batches, shaped for CPU-like devices:
//   y[t, m] = sum_k W[m, k] * x[t, k], f32 accumulation.
//   W: [M x K] row-major, f32 (default) or f16 (WEIGHT_F16: uint words of two halves, K even)
//   x: [T x K] f32   y: [T x M] f32
// A workgroup computes WG * TM rows of W for BN tokens. It walks K in slices of BK: the threads
// stage the BN x BK tile of x in shared memory (zero past the edges); then each thread reads its
// TM rows of W straight from memory (each weight is used by one thread only, so staging it would
// not save loads) and accumulates a TM x BN block of outputs. Every thread reads the same x
// values, so on devices that execute the workgroup as SIMD lanes those loads are uniform
// (scalar load + broadcast) while each weight load feeds BN FMAs.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 2;   // rows per thread
layout(constant_id = 2) const uint BN = 8;   // tokens per workgroup
layout(constant_id = 3) const uint BK = 64;  // even
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

shared vec2 xs[BN * (BK / 2)];  // xs[t * (BK / 2) + kp] = x[t0 + t, k0 + 2kp .. 2kp + 1]

void main() {
  const uint m_blocks = (p.M + WG * TM - 1) / (WG * TM);
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (block >= m_blocks * ((p.T + BN - 1) / BN)) return;  // uniform across the workgroup
  const uint m0 = (block % m_blocks) * (WG * TM);
  const uint t0 = (block / m_blocks) * BN;
  const uint tid = gl_LocalInvocationID.x;

  // Rows past M read row M - 1 (valid memory) and are never written.
  uint base[TM];
  [[unroll]] for (uint r = 0; r < TM; ++r) {
#ifdef WEIGHT_F16
    base[r] = min(m0 + tid + r * WG, p.M - 1) * (p.K / 2);
#else
    base[r] = min(m0 + tid + r * WG, p.M - 1) * p.K;
#endif
  }
  float acc[TM * BN];
  [[unroll]] for (uint i = 0; i < TM * BN; ++i) acc[i] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    for (uint e = tid; e < BN * (BK / 2); e += WG) {
      const uint t = t0 + e / (BK / 2), k = k0 + 2 * (e % (BK / 2));
      vec2 v = vec2(0.0);
      if (t < p.T) {
        const uint i = t * p.K + k;
        v = vec2(k < p.K ? x[i] : 0.0, k + 1 < p.K ? x[i + 1] : 0.0);
      }
      xs[e] = v;
    }
    barrier();

    const uint kn = min(BK, p.K - k0);  // uniform
    for (uint kk = 0; kk < kn; kk += 2) {
      vec2 wv[TM];
      [[unroll]] for (uint r = 0; r < TM; ++r) {
#ifdef WEIGHT_F16
        wv[r] = unpackHalf2x16(w[base[r] + (k0 + kk) / 2]);
#else
        const uint i = base[r] + k0 + kk;
        wv[r] = vec2(w[i], kk + 1 < kn ? w[i + 1] : 0.0);
#endif
      }
      [[unroll]] for (uint t = 0; t < BN; ++t) {
        const vec2 xv = xs[t * (BK / 2) + kk / 2];
        [[unroll]] for (uint r = 0; r < TM; ++r)
          acc[r * BN + t] = fma(wv[r].y, xv.y, fma(wv[r].x, xv.x, acc[r * BN + t]));
      }
    }
    barrier();
  }

  [[unroll]] for (uint t = 0; t < BN; ++t) {
    if (t0 + t >= p.T) break;
    [[unroll]] for (uint r = 0; r < TM; ++r) {
      const uint m = m0 + tid + r * WG;
      if (m < p.M) y[(t0 + t) * p.M + m] = acc[r * BN + t];
    }
  }
}
