#version 450
// Matrix-vector product (one token): y[m] = sum_k W[m, k] * x[k], f32 accumulation.
//   W: [M x K] row-major, f32 (default) or f16 (WEIGHT_F16: read as uint words holding two halves,
//      K even, so no 16-bit storage feature is needed)   x: [K] f32   y: [M] f32
// One workgroup computes NR consecutive rows. Each thread walks a strided slice of K, loads x once
// per element and uses it for all NR rows, then the workgroup reduces the NR partial sums: through
// shared memory (always available) or, with USE_SUBGROUP, subgroupAdd followed by a shared-memory
// step across subgroups when the workgroup holds more than one.
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(constant_id = 0) const uint WG = 32;  // power of two
layout(constant_id = 1) const uint NR = 8;   // rows per workgroup
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
} p;

shared float red[NR * WG];

void main() {
  const uint row0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * NR;
  if (row0 >= p.M) return;  // uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;

  // Rows past M (last workgroup) re-read row M - 1 and are never written.
  uint base[NR];
  float acc[NR];
#ifdef WEIGHT_F16
  const uint kw = p.K / 2;  // uint words per row
#else
  const uint kw = p.K;
#endif
  [[unroll]] for (uint r = 0; r < NR; ++r) {
    base[r] = min(row0 + r, p.M - 1) * kw;
    acc[r] = 0.0;
  }

#ifdef WEIGHT_F16
  for (uint k = tid; k < kw; k += WG) {
    const vec2 xv = vec2(x[2 * k], x[2 * k + 1]);
    [[unroll]] for (uint r = 0; r < NR; ++r) {
      const vec2 wv = unpackHalf2x16(w[base[r] + k]);
      acc[r] = fma(wv.y, xv.y, fma(wv.x, xv.x, acc[r]));
    }
  }
#else
  for (uint k = tid; k < kw; k += WG) {
    const float xv = x[k];
    [[unroll]] for (uint r = 0; r < NR; ++r) acc[r] = fma(w[base[r] + k], xv, acc[r]);
  }
#endif

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
