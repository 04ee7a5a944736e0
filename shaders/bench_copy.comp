#version 450
// Device ceiling micro-kernel (runtime/ceilings.cpp): dst[i] = src[i], one vec4 per invocation;
// times a large copy to measure achievable memory bandwidth.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer S { vec4 src[]; };
layout(std430, binding = 1) writeonly buffer D { vec4 dst[]; };
layout(push_constant) uniform P { uint n; } p;  // vec4 elements

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n) return;
  dst[i] = src[i];
}
