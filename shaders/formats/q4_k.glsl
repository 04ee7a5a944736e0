// Q4_K: 144-byte super-blocks of 256: fp16 d, fp16 dmin, scales[12] (eight 6-bit scales and
// mins), qs[128]. Chunk c < 4 of 64 elements uses qs[32c .. 32c + 31]: low nibbles are sub-block
// 2c, high nibbles sub-block 2c + 1; w = d * sc[s] * nibble - dmin * m[s].
// Group g < 8: chunk c = g / 2, half h = g % 2 -> qs[32c + 16h .. + 15], runs at 64c + 16h
// (sub-block 2c) and 64c + 32 + 16h (sub-block 2c + 1).
#define QK 256
#define QBYTES 144
#define QGROUPS 8
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 32
#define Q_HAS_MIN
#define Q_ALIGNED4
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 64u * (g >> 1) + 16u * (g & 1u);
}

// 6-bit scale and min of sub-block s from the 12 packed bytes (3 words).
uvec2 q_k4_scale_min(const uint sc[3], uint s) {
  if (s < 4u) return uvec2(Q_BYTE(sc, s) & 63u, Q_BYTE(sc, s + 4u) & 63u);
  const uint hi = Q_BYTE(sc, s + 4u);
  return uvec2((hi & 15u) | ((Q_BYTE(sc, s - 4u) >> 6) << 4),
               (hi >> 4) | ((Q_BYTE(sc, s) >> 6) << 4));
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  const uint c = g >> 1, h = g & 1u;
  uint head[4];  // d, dmin, scales
  Q_LOAD(bb, head, 4)
  uint v[4];
  Q_LOAD(bb + 16u + 32u * c + 16u * h, v, 4)
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    const uvec4 b = (uvec4(v[k]) >> uvec4(0, 8, 16, 24)) & 0xFFu;
    const vec4 lo = vec4(b & 15u), hi = vec4(b >> 4);
    [[unroll]] for (uint e = 0; e < 4; ++e) {
      q[4 * k + e] = lo[e];
      q[16 + 4 * k + e] = hi[e];
    }
  }
  const uint sc[3] = uint[3](head[1], head[2], head[3]);
  const vec2 dm = unpackHalf2x16(head[0]);
  const uvec2 s0 = q_k4_scale_min(sc, 2u * c), s1 = q_k4_scale_min(sc, 2u * c + 1u);
  sm[0] = vec2(dm.x * float(s0.x), -dm.y * float(s0.y));
  sm[1] = vec2(dm.x * float(s1.x), -dm.y * float(s1.y));
}
