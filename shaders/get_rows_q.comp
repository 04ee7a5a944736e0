#version 450
// Embedding gather from a quantized table read as stored in GGUF:
//   out[t, c] = table[ids[t], c] for t < n_rows_out, c < n_cols.
//   table: [n_table_rows x n_cols] in the format selected by -DFMT_<NAME> (shaders/formats/),
//   bound as uint words; n_cols a multiple of QK   ids: uint per token   out: f32
// One invocation decodes one 32-element group of one output row. Ids >= n_table_rows write a row
// of zeros where p.zero_past (the host validates ids before upload anyway); for a piece of a split
// table (p.row0 > 0 or !p.zero_past) ids outside it write nothing.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Table { uint wq[]; };
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform P {
  uint n_cols;
  uint n_rows_out;
  uint n_table_rows;
  uint row0;       // id of the table's first row (a table split by rows: one dispatch per piece)
  uint zero_past;  // ids past the table write zeros (else, like ids before row0, nothing)
} p;

#include "formats/format.glsl"

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint nb = p.n_cols / QK, per_row = nb * QGROUPS;
  if (i >= per_row * p.n_rows_out) return;
  const uint t = i / per_row, gi = i % per_row;
  const uint b = gi / QGROUPS, g = gi % QGROUPS;
  if (ids[t] < p.row0 || (ids[t] - p.row0 >= p.n_table_rows && p.zero_past == 0u)) return;
  const uint id = ids[t] - p.row0;
  float v[QG];
  if (id < p.n_table_rows) {
    q_dequant((id * nb + b) * QBYTES, g, v);
  } else {
    [[unroll]] for (uint e = 0; e < QG; ++e) v[e] = 0.0;
  }
  const uint o0 = t * p.n_cols + b * QK + q_run_start(g);
  [[unroll]] for (uint r = 0; r < QNRUN; ++r) {
    [[unroll]] for (uint e = 0; e < QRUN; ++e) o[o0 + r * QRUN_STRIDE + e] = v[r * QRUN + e];
  }
}
