// What the planes of each planar weight format hold (quant/repack.h), from the kernel's
// -DWT_<TYPE>; included by the planar kernels (matvec_t.comp, get_rows_planar.comp) before their
// bindings.
#ifndef VKLLM_PLANAR_TYPES_GLSL
#define VKLLM_PLANAR_TYPES_GLSL

// Quants: one texel of 32 nibbles per block of 32 (Q4_0's order), or two texels of 32 int8.
#if defined(WT_Q4_0) || defined(WT_Q4_K) || defined(WT_Q3_K) || defined(WT_Q2_K)
#define P_NIBBLES
#elif defined(WT_Q8_0) || defined(WT_Q5_K) || defined(WT_Q6_K)
#define P_INT8
#endif

// Scales: one fp16 per row and block (one texel per group of 8 rows), or f32 parameters per row
// and block (four texels per group for two, eight for four; planar.glsl k_params): element =
// a * q - b (P_K_MIN: Q4_K, Q5_K), (i < 16 ? a : b) * q (P_HALVES: Q6_K; Q3_K with q - 4), or
// a0 * q - b0 in the first half and a1 * q - b1 in the second (P_HALVES, P_K_MIN, P_K_PARAMS4:
// Q2_K).
#if defined(WT_Q4_0) || defined(WT_Q8_0)
#define P_SCALE_F16
#elif defined(WT_Q4_K) || defined(WT_Q5_K) || defined(WT_Q6_K) || defined(WT_Q3_K) || \
    defined(WT_Q2_K)
#define P_K_PARAMS
#if defined(WT_Q4_K) || defined(WT_Q5_K) || defined(WT_Q2_K)
#define P_K_MIN
#endif
#if defined(WT_Q6_K) || defined(WT_Q3_K) || defined(WT_Q2_K)
#define P_HALVES
#endif
#if defined(WT_Q2_K)
#define P_K_PARAMS4
#endif
#endif
// The quants' zero point, subtracted from each (folded into the dot product through the sum of
// x): Q4_0's 8 and Q3_K's 4.
#if defined(WT_Q4_0)
#define P_ZERO 8.0
#elif defined(WT_Q3_K)
#define P_ZERO 4.0
#endif
#if defined(P_SCALE_F16) || defined(P_K_PARAMS)
#define P_SCALE_PLANE
#endif

#endif
