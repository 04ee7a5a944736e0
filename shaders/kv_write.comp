#version 450
// KV cache append: cache[(pos0 + t) * kv_width + j] = src[t * kv_width + j] for t < T; rows at or
// past ctx_len are skipped. pos0 comes from the step buffer.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) writeonly buffer C { float cache[]; };
layout(std430, binding = 2) readonly buffer Step { uint pos0; uint n_past; } st;
layout(push_constant) uniform P {
  uint kv_width;
  uint T;
  uint ctx_len;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.T * p.kv_width) return;
  const uint t = i / p.kv_width, j = i % p.kv_width;
  const uint row = st.pos0 + t;
  if (row >= p.ctx_len) return;
  cache[row * p.kv_width + j] = src[i];
}
