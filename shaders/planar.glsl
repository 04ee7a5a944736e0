// Reading a weight matrix through texel buffers (shaders/texel.glsl), as quant/repack.h lays out the planar
// formats (shaders/matvec_t.comp, shaders/get_rows_planar.comp). The includer selects the format
// (-DWT_<TYPE>: the planar forms' kernels q4_0, q8_0, q4_k, q5_k, q6_k, q3_k, q2_k, f16, bf16,
// and f32; planar_types.glsl says what their planes hold) and declares, before including this:
//   TL, TNR   specialization constants: the planar layout's lanes per tile and rows per lane
//             (TL = 0: row-major, for F32 and F16 kept as stored)
//   wq        TEXEL_UVEC4: the quant plane; wd the scale plane (P_SCALE_PLANE);
//             wf TEXEL_VEC4: F32 weights
// Texel t of row m (rows of J texels) in the weight plane, and the scale texel of block b of row
// m, as quant/repack.cpp places them.
uint w_texel(uint m, uint t, uint J) {
  if (TL == 0) return m * J + t;
  const uint TR = TL * TNR, i = m % TR;
  return ((m / TR) * J + t) * TR + (i % TNR) * TL + i / TNR;
}
// Scale texel k of `texels` (1: fp16 scales; 4, 8: two, four f32 parameters) per group and block.
uint s_texel(uint m, uint b, uint nb, uint texels, uint k) {
  const uint g = m / 8;
  const uint L = max(TL, 1u);  // TL = 0 (row-major) has no scale plane
  return (((g / L) * nb + b) * texels + k) * L + g % L;
}
uint s_texel(uint m, uint b, uint nb) {
  return s_texel(m, b, nb, 1u, 0u);
}

#ifdef P_K_PARAMS
// The f32 parameters of block blk of the 4 rows 4 (m / 4) .. 4 (m / 4) + 3 (quant/repack.h: the
// texels of row m's half of its group of 8): a[m % 4], b[m % 4] (and c, e: Q2_K's second half's)
// are row m's.
#ifdef P_K_PARAMS4
const uint P_TEXELS = 8u;
#else
const uint P_TEXELS = 4u;
#endif
vec4 k_param(uint m, uint blk, uint nb, uint j) {
  return uintBitsToFloat(FETCH(wd, int(s_texel(m, blk, nb, P_TEXELS, 2u * j + (m % 8) / 4))));
}
void k_params(uint m, uint blk, uint nb, out vec4 a, out vec4 b) {
  a = k_param(m, blk, nb, 0u);
  b = k_param(m, blk, nb, 1u);
}
#endif

// The scale of row m from the scale texel of its group of 8 rows.
float w_scale(uvec4 sv, uint m) {
  return unpackHalf2x16(sv[(m % 8) / 2])[m % 2];
}

// Block b of row m, element i at q[i]: W[m, 32 b + i] = (q[i] - P_ZERO) * scale; with P_K_PARAMS
// as planar_types.glsl says.
#ifdef P_NIBBLES
void w_block(uint m, uint nb, uint b, out float q[32]) {
  const uvec4 v = FETCH(wq, int(w_texel(m, b, nb)));
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    const uint lo = v[k] & 0x0F0F0F0Fu, hi = (v[k] >> 4) & 0x0F0F0F0Fu;
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      q[4 * k + c] = float((lo >> (8 * c)) & 0xFFu);
      q[16 + 4 * k + c] = float((hi >> (8 * c)) & 0xFFu);
    }
  }
}
#elif defined(P_INT8)
void w_block(uint m, uint nb, uint b, out float q[32]) {
  [[unroll]] for (uint h = 0; h < 2; ++h) {
    const uvec4 v = FETCH(wq, int(w_texel(m, 2 * b + h, 2 * nb)));
    [[unroll]] for (uint k = 0; k < 4; ++k) {
      [[unroll]] for (uint c = 0; c < 4; ++c)
        q[16 * h + 4 * k + c] = float(int(v[k] << (24 - 8 * c)) >> 24);
    }
  }
}
#elif defined(WT_F16)
void w_block(uint m, uint nb, uint b, out float q[32]) {
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uvec4 v = FETCH(wq, int(w_texel(m, 4 * b + j, 4 * nb)));
    [[unroll]] for (uint k = 0; k < 4; ++k) {
      const vec2 h = unpackHalf2x16(v[k]);
      q[8 * j + 2 * k] = h.x;
      q[8 * j + 2 * k + 1] = h.y;
    }
  }
}
#elif defined(WT_BF16)
// As F16, two bfloat16 per word (the top 16 bits of a float: exact).
void w_block(uint m, uint nb, uint b, out float q[32]) {
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uvec4 v = FETCH(wq, int(w_texel(m, 4 * b + j, 4 * nb)));
    [[unroll]] for (uint k = 0; k < 4; ++k) {
      q[8 * j + 2 * k] = uintBitsToFloat(v[k] << 16);
      q[8 * j + 2 * k + 1] = uintBitsToFloat(v[k] & 0xFFFF0000u);
    }
  }
}
#else
void w_block(uint m, uint nb, uint b, out float q[32]) {
  const uint t0 = (m * nb + b) * 8;
  [[unroll]] for (uint j = 0; j < 8; ++j) {
    const vec4 v = FETCH(wf, int(t0 + j));
    [[unroll]] for (uint c = 0; c < 4; ++c) q[4 * j + c] = v[c];
  }
}
#endif
