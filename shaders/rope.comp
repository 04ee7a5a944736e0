#version 450
// Rotary position embedding over [T x n_heads * head_dim]; token t is at position pos0 + t (pos0
// from the step buffer, so a recorded command buffer can be replayed for every token).
// Pair i (i < n_rot / 2) is rotated by theta = pos * base^(-2i / n_rot):
//   Normal (GGUF llama / llama2.c): elements (2i, 2i + 1)
//   NeoX:                           elements (i, i + n_rot / 2)
// Dims n_rot..head_dim-1 are copied. One thread per pair: every thread reads and then writes only
// its own two elements, so y may alias x.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "rope_common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint NEOX = 0;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer Step { uint pos0; uint n_past; } st;
// inv_freq[i] = f32(freq_base^(-2i / n_rot)), i < n_rot / 2, computed on the host so that every
// device gets the same correctly rounded value: at position 4000 one ulp of inv_freq moves the
// angle by ~2e-4.
layout(std430, binding = 3) readonly buffer F { float inv_freq[]; };
layout(push_constant) uniform P {
  uint head_dim;
  uint n_heads;
  uint T;
  uint n_rot;
} p;

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint idx = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (idx >= p.T * p.n_heads * half_dim) return;
  const uint i = idx % half_dim;
  const uint th = idx / half_dim;  // t * n_heads + h
  const uint t = th / p.n_heads;
  const uint base = th * p.head_dim;
  const uint half_rot = p.n_rot / 2;

  if (i >= half_rot) {  // not rotated: elements n_rot..head_dim-1
    const float a = x[base + 2 * i], b = x[base + 2 * i + 1];
    y[base + 2 * i] = a;
    y[base + 2 * i + 1] = b;
    return;
  }
  const uint i0 = NEOX != 0 ? base + i : base + 2 * i;
  const uint i1 = NEOX != 0 ? base + i + half_rot : base + 2 * i + 1;

  const float pos = float(st.pos0 + t);
  precise const float angle = pos * inv_freq[i];  // rounded to f32 as llama.cpp does
  const float theta = reduce_angle(angle);
  const float c = cos(theta), s = sin(theta);
  const float a = x[i0], b = x[i1];
  y[i0] = a * c - b * s;
  y[i1] = a * s + b * c;
}
