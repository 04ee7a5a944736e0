#version 450
// Matrix-vector product (one token) with quantized weights read as stored in GGUF:
//   y[m] = sum_k W[m, k] * x[k], f32 accumulation.
//   W: [M x K] in the format selected by -DFMT_<NAME> (shaders/formats/), rows of K / QK blocks
//   back to back, bound as uint words   x: [K] f32   y: [M] f32   K a multiple of QK.
// One workgroup computes NR consecutive rows. Each thread walks a strided slice of the row's
// 32-element groups (shaders/formats/format.glsl): it loads the group's x values once and uses
// them for all NR rows, decoding each row's group in one go and applying the scales per run
// (sum q*x times the run's scale, plus its offset times sum x). The reduction is the one of
// matvec.comp: shared memory, or subgroupAdd with USE_SUBGROUP.
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(constant_id = 0) const uint WG = 32;  // power of two
layout(constant_id = 1) const uint NR = 8;   // rows per workgroup
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint M;
  uint K;
} p;

#include "formats/format.glsl"

shared float red[NR * WG];

void main() {
  const uint row0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * NR;
  if (row0 >= p.M) return;  // uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint nb = p.K / QK;  // blocks per row

  // Rows past M (last workgroup) re-read row M - 1 and are never written.
  uint base[NR];  // byte offset of each row
  float acc[NR];
  [[unroll]] for (uint r = 0; r < NR; ++r) {
    base[r] = min(row0 + r, p.M - 1) * nb * QBYTES;
    acc[r] = 0.0;
  }

  for (uint gi = tid; gi < nb * QGROUPS; gi += WG) {
    const uint b = gi / QGROUPS, g = gi % QGROUPS;
    const uint x0 = b * QK + q_run_start(g);
    float xv[QG];
#ifdef Q_HAS_MIN
    float xs[QNRUN];
#endif
    [[unroll]] for (uint r = 0; r < QNRUN; ++r) {
      float s = 0.0;
      [[unroll]] for (uint i = 0; i < QRUN; ++i) {
        const float v = x[x0 + r * QRUN_STRIDE + i];
        xv[r * QRUN + i] = v;
        s += v;
      }
#ifdef Q_HAS_MIN
      xs[r] = s;
#endif
    }
    // Not unrolled: one decode in the code instead of NR keeps LLVM compile times short.
    [[dont_unroll]] for (uint row = 0; row < NR; ++row) {
      float q[QG];
      vec2 sm[QNRUN];
      q_group(base[row] + b * QBYTES, g, q, sm);
      float a = acc[row];
      [[unroll]] for (uint r = 0; r < QNRUN; ++r) {
        float d = 0.0;
        [[unroll]] for (uint i = 0; i < QRUN; ++i) d = fma(q[r * QRUN + i], xv[r * QRUN + i], d);
        a = fma(sm[r].x, d, a);
#ifdef Q_HAS_MIN
        a = fma(sm[r].y, xs[r], a);
#endif
      }
      acc[row] = a;
    }
  }

#ifdef USE_SUBGROUP
  [[unroll]] for (uint r = 0; r < NR; ++r) acc[r] = subgroupAdd(acc[r]);
  if (gl_NumSubgroups == 1) {
    if (subgroupElect()) {
      [[unroll]] for (uint r = 0; r < NR; ++r) {
        if (row0 + r < p.M) y[row0 + r] = acc[r];
      }
    }
    return;
  }
  if (subgroupElect()) {
    [[unroll]] for (uint r = 0; r < NR; ++r) red[r * WG + gl_SubgroupID] = acc[r];
  }
  barrier();
  for (uint r = tid; r < NR && row0 + r < p.M; r += WG) {
    float sum = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; ++s) sum += red[r * WG + s];
    y[row0 + r] = sum;
  }
#else
  [[unroll]] for (uint r = 0; r < NR; ++r) red[r * WG + tid] = acc[r];
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) {
      [[unroll]] for (uint r = 0; r < NR; ++r) red[r * WG + tid] += red[r * WG + tid + s];
    }
    barrier();
  }
  for (uint r = tid; r < NR && row0 + r < p.M; r += WG) y[row0 + r] = red[r * WG];
#endif
}
