// What the planes of each planar weight format hold (quant/repack.h), from the kernel's
// -DWT_<TYPE>; included by the planar kernels (matvec_t.comp, get_rows_planar.comp) before their
// bindings.
#ifndef VKLLM_PLANAR_TYPES_GLSL
#define VKLLM_PLANAR_TYPES_GLSL

// Quants: one texel of 32 nibbles per block of 32 (Q4_0's order), or two texels of 32 int8.
#if defined(WT_Q4_0) || defined(WT_Q4_K)
#define P_NIBBLES
#elif defined(WT_Q8_0) || defined(WT_Q5_K) || defined(WT_Q6_K)
#define P_INT8
#endif

// Scales: one fp16 per row and block (one texel per group of 8 rows), or two f32 parameters per
// row and block (four texels per group; planar.glsl k_params): element = a * q - b (P_K_MIN:
// Q4_K, Q5_K) or (i < 16 ? a : b) * q (Q6_K).
#if defined(WT_Q4_0) || defined(WT_Q8_0)
#define P_SCALE_F16
#elif defined(WT_Q4_K) || defined(WT_Q5_K) || defined(WT_Q6_K)
#define P_K_PARAMS
#if !defined(WT_Q6_K)
#define P_K_MIN
#endif
#endif
#if defined(P_SCALE_F16) || defined(P_K_PARAMS)
#define P_SCALE_PLANE
#endif

#endif
