// Weight format dispatcher: -DFMT_<NAME> selects shaders/formats/<name>.glsl.
//
// Every format header defines its block geometry and one dequantization entry point:
//   QK          elements per block (along K)      QBYTES   bytes per block
//   QGROUPS     groups per block; a group is QG = QNRUN * QRUN = 32 elements that the format
//               decodes together: QNRUN runs of QRUN consecutive elements, run r starting at
//               element q_run_start(g) + r * QRUN_STRIDE of the block
//   Q_HAS_MIN   defined when a run's values carry an offset (sm.y below)
//   void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN])
//               decodes group g of the block at byte offset bb: element i of run r is
//               q[r * QRUN + i] * sm[r].x + sm[r].y (sm[r].y is 0 without Q_HAS_MIN).
// The kernel declares `uint wq[]` (the weights) before including this file, or defines Q_WORD
// and Q_NWORDS (formats/common.glsl).
#ifndef VKLLM_FORMATS_FORMAT_GLSL
#define VKLLM_FORMATS_FORMAT_GLSL

#define QG 32

#if defined(FMT_Q8_0)
#include "formats/q8_0.glsl"
#elif defined(FMT_Q4_0)
#include "formats/q4_0.glsl"
#elif defined(FMT_Q4_1)
#include "formats/q4_1.glsl"
#elif defined(FMT_Q5_0)
#include "formats/q5_0.glsl"
#elif defined(FMT_Q5_1)
#include "formats/q5_1.glsl"
#elif defined(FMT_IQ4_NL)
#include "formats/iq4_nl.glsl"
#elif defined(FMT_IQ4_XS)
#include "formats/iq4_xs.glsl"
#elif defined(FMT_Q4_K)
#include "formats/q4_k.glsl"
#elif defined(FMT_Q5_K)
#include "formats/q5_k.glsl"
#elif defined(FMT_Q6_K)
#include "formats/q6_k.glsl"
#elif defined(FMT_Q2_K)
#include "formats/q2_k.glsl"
#elif defined(FMT_Q3_K)
#include "formats/q3_k.glsl"
#elif defined(FMT_BF16)
#include "formats/bf16.glsl"
#else
#error "no weight format selected (-DFMT_<NAME>)"
#endif

// Group g of the block at bb, dequantized: v[r * QRUN + i] is element q_run_start(g) +
// r * QRUN_STRIDE + i of the block.
void q_dequant(uint bb, uint g, out float v[QG]) {
  float q[QG];
  vec2 sm[QNRUN];
  q_group(bb, g, q, sm);
  [[unroll]] for (uint i = 0; i < QG; ++i) {
#ifdef Q_HAS_MIN
    v[i] = fma(q[i], sm[i / QRUN].x, sm[i / QRUN].y);
#else
    v[i] = q[i] * sm[i / QRUN].x;
#endif
  }
}

#endif
