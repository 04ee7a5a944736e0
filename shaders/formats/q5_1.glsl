// Q5_1: 24-byte blocks of 32: fp16 d, fp16 m, uint32 qh, qs[16] (5-bit values as Q5_0);
// w = q * d + m.
#define QK 32
#define QBYTES 24
#define QGROUPS 1
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 16
#define Q_HAS_MIN
#define Q_ALIGNED4
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[6];
  Q_LOAD(bb, v, 6)
  const uint qh = v[1];
  [[unroll]] for (uint j = 0; j < 16; ++j) {
    const uint b = Q_BYTE(v, 8u + j);
    q[j] = float((b & 15u) | (((qh >> j) & 1u) << 4));
    q[16 + j] = float((b >> 4) | (((qh >> (j + 16)) & 1u) << 4));
  }
  const vec2 dm = unpackHalf2x16(v[0]);
  sm[0] = dm;
  sm[1] = dm;
}
