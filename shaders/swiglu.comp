#version 450
// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)), for i < n.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer U { float up[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint n; } p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n) return;
  const float g = gate[i];
  // exp(-g) overflows to +inf for g < -88: g / inf = -0, the correct limit.
  o[i] = g / (1.0 + exp(-g)) * up[i];
}
