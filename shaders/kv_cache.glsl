// The KV cache's element format, shared by its writers (rope_kv.comp, matvec_t.comp QKV_ROPE) and
// attention.comp: rows of 32-bit words holding f32 elements, or, where the specialization constant
// KV_HALF (declared by the includer) is 1, two f16 halves per word (element i in word i / 2, the
// low half for even i). The includer declares the cache buffers as uint arrays.
#ifndef VKLLM_KV_CACHE_GLSL
#define VKLLM_KV_CACHE_GLSL

// Elements i (even) and i + 1 of `cache` = a, b.
#define KV_STORE_PAIR(cache, i, a, b)           \
  if (KV_HALF != 0u) {                          \
    cache[(i) / 2u] = packHalf2x16(vec2(a, b)); \
  } else {                                      \
    cache[(i)] = floatBitsToUint(a);            \
    cache[(i) + 1u] = floatBitsToUint(b);       \
  }

// Element i of `cache`.
#define KV_LOAD(cache, i) \
  (KV_HALF != 0u ? unpackHalf2x16(cache[(i) / 2u])[(i) % 2u] : uintBitsToFloat(cache[(i)]))

#endif
