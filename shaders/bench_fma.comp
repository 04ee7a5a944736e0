#version 450
// Device ceiling micro-kernel (runtime/ceilings.cpp): CHAINS independent chains of FMAs held in
// registers, a = fma(a, m, c) `iters` times each, to measure arithmetic throughput. Chain j of
// invocation i starts at (i % 1024) / 1024 + j / 8; out[i] is the sum of the chains' last values.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
  uint n;      // invocations that write
  uint iters;  // FMAs per chain
  float m;
  float c;
} p;

const uint CHAINS = 8;
const uint UNROLL = 8;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  float a[CHAINS];
  [[unroll]] for (uint j = 0; j < CHAINS; ++j) a[j] = float(i % 1024u) / 1024.0 + float(j) / 8.0;
  const float m = p.m, c = p.c;
  // Eight steps per loop trip keep the loop's own overhead small next to the FMAs.
  uint k = 0;
  for (; k + UNROLL <= p.iters; k += UNROLL) {
    [[unroll]] for (uint u = 0; u < UNROLL; ++u) {
      [[unroll]] for (uint j = 0; j < CHAINS; ++j) a[j] = fma(a[j], m, c);
    }
  }
  for (; k < p.iters; ++k) {
    [[unroll]] for (uint j = 0; j < CHAINS; ++j) a[j] = fma(a[j], m, c);
  }
  float s = 0.0;
  [[unroll]] for (uint j = 0; j < CHAINS; ++j) s += a[j];
  if (i < p.n) o[i] = s;
}
