// Q3_K: 110-byte super-blocks of 256: hmask[32], qs[64], scales[12] (sixteen 6-bit scales), fp16 d.
// Half n < 2 of 128 elements uses qs[32n ..]; element 128n + 32j + l (j < 4, l < 32) is bits
// 2j..2j+1 of qs[32n + l], minus 4 when bit 4n + j of hmask[l] is clear, with sub-block
// s = 8n + 2j + l / 16: w = d * (scale[s] - 32) * q. Scale s has its low 4 bits in byte s (s < 8,
// low nibble) or s - 8 (high nibble), its high 2 bits at bit 2 (s / 4) of byte 8 + s % 4.
// Groups as Q2_K.
#define QK 256
#define QBYTES 110
#define QGROUPS 8
#define QNRUN 4
#define QRUN 8
#define QRUN_STRIDE 32
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 128u * (g >> 2) + 8u * (g & 3u);
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  const uint n = g >> 2, i = g & 3u;
  uint v[2], hm[2], sc[3];
  Q_LOAD(bb + 32u + 32u * n + 8u * i, v, 2)
  Q_LOAD(bb + 8u * i, hm, 2)
  Q_LOAD(bb + 96u, sc, 3)
  [[unroll]] for (uint k = 0; k < 2; ++k) {
    const uvec4 sh = uvec4(0, 8, 16, 24);
    const uvec4 b = (uvec4(v[k]) >> sh) & 0xFFu, h = (uvec4(hm[k]) >> (sh + 4u * n)) & 15u;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      const vec4 x = vec4((b >> (2u * j)) & 3u) - 4.0 * vec4(1u - ((h >> j) & 1u));
      [[unroll]] for (uint e = 0; e < 4; ++e) q[8 * j + 4 * k + e] = x[e];
    }
  }
  const float d = q_f16(bb + 108u);
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint s = 8u * n + 2u * j + (i >> 1);
    const uint lo = s < 8u ? (Q_BYTE(sc, s) & 15u) : (Q_BYTE(sc, s - 8u) >> 4);
    const uint hi = (Q_BYTE(sc, 8u + (s & 3u)) >> (2u * (s >> 2))) & 3u;
    sm[j] = vec2(d * float(int(lo | (hi << 4)) - 32), 0.0);
  }
}
