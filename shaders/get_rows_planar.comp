#version 450
// Embedding gather from a matrix in the planar layout (quant/repack.h; -DWT_Q4_0, WT_Q8_0,
// WT_Q4_K, WT_Q5_K, WT_Q6_K, WT_Q3_K, WT_Q2_K, WT_F16 or WT_BF16), so that a tied embedding can
// stay in the layout the output product's texel kernel reads: out[t, c] = table[ids[t], c] for
// t < n_rows_out, c < n_cols (a multiple of 32).
//   bindings: the quant plane (uvec4 texels), the scale plane (all but F16), ids (uint per
//   token), out (f32)
// One invocation decodes one 32-element block of one output row. As get_rows.comp: for a piece of
// a split table ids before p.row0, and past the table unless p.zero_past, write nothing; ids past
// the table write zeros where p.zero_past.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TL = 8;   // planar layout: lanes per tile
layout(constant_id = 2) const uint TNR = 8;  // planar layout: rows per lane
layout(local_size_x_id = 0) in;

#include "texel.glsl"
TEXEL_UVEC4(0) wq;
#include "planar_types.glsl"
#ifdef P_SCALE_PLANE
TEXEL_UVEC4(1) wd;
#define B_IDS 2
#else
#define B_IDS 1
#endif
layout(std430, binding = B_IDS) readonly buffer Ids { uint ids[]; };
layout(std430, binding = B_IDS + 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform P {
  uint n_cols;
  uint n_rows_out;
  uint n_table_rows;
  uint row0;
  uint zero_past;
} p;

#include "planar.glsl"

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  const uint nb = p.n_cols / 32;
  if (i >= nb * p.n_rows_out) return;
  const uint t = i / nb, b = i % nb;
  if (ids[t] < p.row0 || (ids[t] - p.row0 >= p.n_table_rows && p.zero_past == 0u)) return;
  const uint m = ids[t] - p.row0;
  float q[32];
  // Element e = (q[e] - zero) * d, or for K-quants q[e] * a - b (P_K_MIN; Q2_K: q[e] * c - e
  // in the second half), (q[e] - zero) * (e < 16 ? a : b) (Q6_K, Q3_K).
  float d = 0.0, zero = 0.0, pa = 0.0, pb = 0.0, pc = 0.0, pe = 0.0;
  if (m < p.n_table_rows) {
    w_block(m, nb, b, q);
#if defined(P_SCALE_F16)
    d = w_scale(FETCH(wd, int(s_texel(m, b, nb))), m);
#elif defined(P_K_PARAMS)
    vec4 ka, kb;
    k_params(m, b, nb, ka, kb);
    pa = ka[m % 4];
    pb = kb[m % 4];
#ifdef P_K_PARAMS4
    pc = k_param(m, b, nb, 2u)[m % 4];
    pe = k_param(m, b, nb, 3u)[m % 4];
#endif
#else
    d = 1.0;
#endif
#ifdef P_ZERO
    zero = P_ZERO;
#endif
  } else {
    [[unroll]] for (uint e = 0; e < 32; ++e) q[e] = 0.0;
  }
  [[unroll]] for (uint e = 0; e < 32; ++e) {
#if defined(P_K_PARAMS4)
    precise const float w = e < 16 ? q[e] * pa - pb : q[e] * pc - pe;
#elif defined(P_K_MIN)
    precise const float w = q[e] * pa - pb;  // two roundings, as GGUF's dequantizer
#elif defined(P_K_PARAMS)
    const float w = (q[e] - zero) * (e < 16 ? pa : pb);
#else
    const float w = (q[e] - zero) * d;
#endif
    o[t * p.n_cols + b * 32 + e] = w;
  }
}
