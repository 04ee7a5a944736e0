// Shared GLSL declarations for vkllm kernels.
// Conventions: bindings are storage buffers in set 0, in the order the dispatch code passes them;
// shapes come as push constants; local_size_x is specialization constant 0 (set by the host).
#ifndef VKLLM_COMMON_GLSL
#define VKLLM_COMMON_GLSL

#extension GL_EXT_control_flow_attributes : enable

#endif
