// Q2_K: 84-byte super-blocks of 256: scales[16] (low nibble scale, high nibble min), qs[64],
// fp16 d, fp16 dmin. Half n < 2 of 128 elements uses qs[32n ..]; element 128n + 32j + l
// (j < 4, l < 32) is bits 2j..2j+1 of qs[32n + l] with sub-block 8n + 2j + l / 16:
// w = d * (sc & 15) * q - dmin * (sc >> 4). Group g < 8: n = g / 4, l = 8 (g % 4) .. + 7: four
// runs of 8 (j = 0..3).
#define QK 256
#define QBYTES 84
#define QGROUPS 8
#define QNRUN 4
#define QRUN 8
#define QRUN_STRIDE 32
#define Q_HAS_MIN
#define Q_ALIGNED4
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 128u * (g >> 2) + 8u * (g & 3u);
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  const uint n = g >> 2, i = g & 3u;
  uint v[2], sc[2];
  Q_LOAD(bb + 16u + 32u * n + 8u * i, v, 2)
  Q_LOAD(bb + 8u * n, sc, 2)
  [[unroll]] for (uint k = 0; k < 2; ++k) {
    const uvec4 b = (uvec4(v[k]) >> uvec4(0, 8, 16, 24)) & 0xFFu;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      const vec4 x = vec4((b >> (2u * j)) & 3u);
      [[unroll]] for (uint e = 0; e < 4; ++e) q[8 * j + 4 * k + e] = x[e];
    }
  }
  const vec2 dm = unpackHalf2x16(Q_WORD((bb >> 2) + 20u));
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint s = (i >> 1) + 2u * j;  // byte within sc (< 8)
    const uint b = (sc[s >> 2] >> ((s & 3u) << 3)) & 0xFFu;
    sm[j] = vec2(dm.x * float(b & 15u), -dm.y * float(b >> 4));
  }
}
