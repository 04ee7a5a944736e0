// Q5_0: 22-byte blocks of 32: fp16 d, uint32 qh, qs[16]; element j < 16 is the low nibble of
// qs[j] plus bit j of qh as bit 4, element j + 16 the high nibble plus bit j + 16;
// w = (q - 16) * d.
#define QK 32
#define QBYTES 22
#define QGROUPS 1
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 16
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[6];  // bytes 0..23 of the block (the last two belong to the next one)
  Q_LOAD(bb, v, 6)
  const uint qh = (v[0] >> 16) | (v[1] << 16);
  [[unroll]] for (uint j = 0; j < 16; ++j) {
    const uint b = Q_BYTE(v, 6u + j);
    q[j] = float((b & 15u) | (((qh >> j) & 1u) << 4)) - 16.0;
    q[16 + j] = float((b >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16.0;
  }
  const float d = unpackHalf2x16(v[0]).x;
  sm[0] = vec2(d, 0.0);
  sm[1] = vec2(d, 0.0);
}
