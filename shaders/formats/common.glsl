// Word access to GGUF blocks bound as `uint wq[]` (declared by the kernel before including
// formats/format.glsl). Blocks are stored back to back as in the file, so a block may start at any
// even byte offset: fields are read from 32-bit words with shifts, no 8/16-bit storage needed.
#ifndef VKLLM_FORMATS_COMMON_GLSL
#define VKLLM_FORMATS_COMMON_GLSL

// Word i of the weights and their word count: `wq` as a storage buffer, unless the kernel
// defines both (shaders/matvec_q.comp's TEXEL variant reads an R32_UINT texel buffer).
#ifndef Q_WORD
#define Q_WORD(i) wq[i]
#define Q_NWORDS uint(wq.length())
#endif

// 16-bit field at even byte offset b.
uint q_u16(uint b) {
  return (Q_WORD(b >> 2) >> ((b & 2u) << 3)) & 0xFFFFu;
}
float q_f16(uint b) {
  return unpackHalf2x16(q_u16(b)).x;
}

// v[k] = the 4 bytes at b + 4k, k < N, for an even b. Formats whose fields are all 4-byte aligned
// define Q_ALIGNED4 and read words directly. Otherwise N + 1 words are read and funnel-shifted;
// the extra word is only used when b is 2 mod 4 (then it lies inside the block), so its index is
// clamped to the bound range for the aligned case.
#ifdef Q_ALIGNED4
#define Q_LOAD(b, v, N)                                          \
  {                                                              \
    const uint i_ = (b) >> 2;                                    \
    [[unroll]] for (uint k_ = 0; k_ < N; ++k_) v[k_] = Q_WORD(i_ + k_); \
  }
#else
#define Q_LOAD(b, v, N)                                                   \
  {                                                                       \
    const uint i_ = (b) >> 2, s_ = ((b) & 2u) << 3, last_ = Q_NWORDS - 1; \
    uint lo_ = Q_WORD(i_);                                                \
    [[unroll]] for (uint k_ = 0; k_ < N; ++k_) {                          \
      const uint hi_ = Q_WORD(min(i_ + k_ + 1, last_));                    \
      v[k_] = (lo_ >> s_) | ((hi_ << 1) << (31u - s_));                   \
      lo_ = hi_;                                                          \
    }                                                                     \
  }
#endif

// Byte n of a little-endian word array (n a constant after unrolling).
#define Q_BYTE(v, n) ((v[(n) >> 2] >> (((n) & 3u) << 3)) & 0xFFu)

#endif
