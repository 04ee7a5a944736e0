#version 450
// Matrix-matrix product for batches with quantized weights read as stored in GGUF, shaped like
// matmul_rows.comp (CPU-like devices):
//   y[t, m] = sum_k W[m, k] * x[t, k], f32 accumulation.
//   W: [M x K] in the format selected by -DFMT_<NAME> (shaders/formats/), bound as uint words
//   x: [T x K] f32   y: [T x M] f32   K a multiple of QK.
// A workgroup computes WG * TM rows of W for BN tokens and walks K one block (QK elements) at a
// time: the threads stage the BN x QK tile of x in shared memory (zero past T); then each thread
// decodes its TM rows' groups of the block (32 weights at a time, dequantized once) and
// accumulates a TM x BN block of outputs. All threads read the same x values (uniform loads).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 2;  // rows per thread
layout(constant_id = 2) const uint BN = 8;  // tokens per workgroup
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint M;
  uint K;
  uint T;
} p;

#include "formats/format.glsl"

shared float xs[BN * QK];  // xs[t * QK + k] = x[t0 + t, block start + k]

void main() {
  const uint m_blocks = (p.M + WG * TM - 1) / (WG * TM);
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (block >= m_blocks * ((p.T + BN - 1) / BN)) return;  // uniform across the workgroup
  const uint m0 = (block % m_blocks) * (WG * TM);
  const uint t0 = (block / m_blocks) * BN;
  const uint tid = gl_LocalInvocationID.x;
  const uint nb = p.K / QK;

  // Rows past M read row M - 1 (valid memory) and are never written.
  uint base[TM];
  [[unroll]] for (uint r = 0; r < TM; ++r) base[r] = min(m0 + tid + r * WG, p.M - 1) * nb * QBYTES;
  float acc[TM * BN];
  [[unroll]] for (uint i = 0; i < TM * BN; ++i) acc[i] = 0.0;

  for (uint b = 0; b < nb; ++b) {
    for (uint e = tid; e < BN * QK; e += WG) {
      const uint t = t0 + e / QK;
      xs[e] = t < p.T ? x[t * p.K + b * QK + e % QK] : 0.0;
    }
    barrier();

    for (uint g = 0; g < QGROUPS; ++g) {
      const uint k0 = q_run_start(g);
      [[unroll]] for (uint r = 0; r < TM; ++r) {
        float wv[QG];
        q_dequant(base[r] + b * QBYTES, g, wv);
        // The element loop is not unrolled (uniform index into wv), which keeps the code at BN
        // FMAs per row and LLVM compile times short.
        [[dont_unroll]] for (uint i = 0; i < QG; ++i) {
          const float w = wv[i];
          const uint k = k0 + (i / QRUN) * QRUN_STRIDE + i % QRUN;
          [[unroll]] for (uint t = 0; t < BN; ++t)
            acc[r * BN + t] = fma(w, xs[t * QK + k], acc[r * BN + t]);
        }
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
