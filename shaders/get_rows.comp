#version 450
// Embedding gather: out[t, c] = table[ids[t], c] for t < n_rows_out, c < n_cols.
//   table: [n_table_rows x n_cols] f32 (default) or f16 (TABLE_F16: read as uint words holding two
//   halves; any n_cols, a row may start in the middle of a word, and the bound range covers whole
//   words: the host widens it over the last half word)   ids: uint per token
// Ids past the table write a row of zeros where p.zero_past (the host validates ids before upload
// anyway); for a piece of a split table (p.row0 > 0 or !p.zero_past) ids outside it write nothing.
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
  uint row0;       // id of the table's first row (a table split by rows: one dispatch per piece)
  uint zero_past;  // ids past the table write zeros (else, like ids before row0, nothing)
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n_cols * p.n_rows_out) return;
  const uint t = i / p.n_cols, c = i % p.n_cols;
  if (ids[t] < p.row0 || (ids[t] - p.row0 >= p.n_table_rows && p.zero_past == 0u)) return;
  const uint id = ids[t] - p.row0;
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
