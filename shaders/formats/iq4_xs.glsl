// IQ4_XS: 136-byte super-blocks of 256: fp16 d, u16 scales_h, scales_l[4], qs[128]. Block s < 8
// of 32 has the 6-bit scale ls = (scales_l[s / 2] >> 4 (s % 2) & 15) | (scales_h >> 2 s & 3) << 4
// and its nibbles in qs[16 s .. 16 s + 15] as IQ4_NL's (low nibbles elements 0..15, high
// 16..31): w = d * (ls - 32) * kvalues[nibble]. Group g = block g.
#define QK 256
#define QBYTES 136
#define QGROUPS 8
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 16
#define Q_ALIGNED4
#include "formats/common.glsl"
#include "formats/iq4_values.glsl"

uint q_run_start(uint g) {
  return 32u * g;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint head[2];  // d and scales_h, scales_l
  Q_LOAD(bb, head, 2)
  uint v[4];
  Q_LOAD(bb + 8u + 16u * g, v, 4)
  iq4_values(v, q);
  const uint ls = ((head[1] >> (4u * g)) & 15u) | (((head[0] >> (16u + 2u * g)) & 3u) << 4);
  const float dl = unpackHalf2x16(head[0]).x * float(int(ls) - 32);
  sm[0] = vec2(dl, 0.0);
  sm[1] = vec2(dl, 0.0);
}
