// The SwiGLU gate: silu(g) * u with silu(g) = g / (1 + exp(-g)), as swiglu.comp computes it
// (exp(-g) = +inf for g < -88 gives the limit -0).
#ifndef VKLLM_GLU_GLSL
#define VKLLM_GLU_GLSL

float glu(float g, float u) {
  return g / (1.0 + exp(-g)) * u;
}

#endif
