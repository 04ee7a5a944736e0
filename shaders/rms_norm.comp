#version 450
// RMSNorm: y[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * w[i].
// With ADD_RESIDUAL (variant add_rms_norm), x is first replaced by s = x + b, which is also
// written to `sum`: the residual add and the next norm of a transformer block in one dispatch.
// With DEFERRED (variant rms_norm_deferred) the norm is finished by the product that reads y
// (graph/ops.h Ops::NormIn): y = x * w unscaled, and partials[4 r] gets the row's sum of squares
// (partials[4 r + 1 .. 4 r + 3] = 0: the products read partials as vec4s; 4 =
// Ops::kRmsNormDeferredPartials).
// One workgroup per row; each thread sums the squares of a strided slice of the row, then a
// shared-memory tree reduction gives the row's sum. Works for any n (including n < workgroup size).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WG = 128;  // power of two
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#ifdef ADD_RESIDUAL
layout(std430, binding = 3) readonly buffer B { float b[]; };
layout(std430, binding = 4) writeonly buffer S { float sum_out[]; };
#define LOAD(i) (x[i] + b[i])
#else
#define LOAD(i) x[i]
#endif
#ifdef DEFERRED
layout(std430, binding = 3) writeonly buffer NP { float partials[]; };
#endif
layout(push_constant) uniform P {
  uint n;
  uint rows;
  float eps;
} p;

shared float red[WG];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint base = row * p.n;

  float sum = 0.0;
  for (uint i = tid; i < p.n; i += WG) {
    const float v = LOAD(base + i);
#ifdef ADD_RESIDUAL
    sum_out[base + i] = v;
#endif
    sum = fma(v, v, sum);
  }
  red[tid] = sum;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    barrier();
  }
#ifdef DEFERRED
  if (tid == 0) {
    partials[4 * row] = red[0];
    for (uint i = 1; i < 4; ++i) partials[4 * row + i] = 0.0;
  }
  const float r = 1.0;
#else
  const float r = inversesqrt(red[0] / float(p.n) + p.eps);
#endif
  for (uint i = tid; i < p.n; i += WG) y[base + i] = LOAD(base + i) * r * w[i];
}
