#version 450
// Embedding gather: out[t, c] = table[ids[t], c] for t < n_rows_out, c < n_cols.
//   table: [n_table_rows x n_cols] f32 (default) or f16 (TABLE_F16: read as uint words holding two
//   halves; any n_cols, a row may start in the middle of a word, and the bound range covers whole
//   words: the host widens it over the last half word)   ids: uint per token
// Ids >= n_table_rows write a row of zeros (the host validates ids before upload anyway).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#ifdef TABLE_F16
layout(std430, binding = 0) readonly buffer Table { uint table[]; };
#else
layout(std430, binding = 0) readonly buffer Table { float table[]; };
#endif
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform P {
  uint n_cols;
  uint n_rows_out;
  uint n_table_rows;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n_cols * p.n_rows_out) return;
  const uint t = i / p.n_cols, c = i % p.n_cols;
  const uint id = ids[t];
  float v = 0.0;
  if (id < p.n_table_rows) {
    const uint e = id * p.n_cols + c;
#ifdef TABLE_F16
    v = unpackHalf2x16(table[e >> 1])[e & 1u];
#else
    v = table[e];
#endif
  }
  o[i] = v;
}
