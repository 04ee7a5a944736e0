#version 450
// Row softmax: y[r, :] = softmax(x[r, :] * scale) for r < rows, any n_cols >= 1 (y may alias x).
// One workgroup per row: a shared-memory max reduction, then the sum of exp(v - max), then the
// normalized write; the row is read three times instead of being held in shared memory, so any
// width works.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WG = 128;  // power of two
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint n_cols;
  uint rows;
  float scale;
} p;

shared float red[WG];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint tid = gl_LocalInvocationID.x;
  const uint base = row * p.n_cols;

  float m = -3.402823466e38;
  for (uint i = tid; i < p.n_cols; i += WG) m = max(m, x[base + i] * p.scale);
  red[tid] = m;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] = max(red[tid], red[tid + s]);
    barrier();
  }
  const float row_max = red[0];
  barrier();  // red is reused below

  float sum = 0.0;
  for (uint i = tid; i < p.n_cols; i += WG) sum += exp(x[base + i] * p.scale - row_max);
  red[tid] = sum;
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    barrier();
  }
  const float inv = 1.0 / red[0];
  for (uint i = tid; i < p.n_cols; i += WG) y[base + i] = exp(x[base + i] * p.scale - row_max) * inv;
}
