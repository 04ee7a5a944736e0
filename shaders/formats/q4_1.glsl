// Q4_1: 20-byte blocks of 32: fp16 d, fp16 m, qs[16] (nibbles as Q4_0); w = nibble * d + m.
#define QK 32
#define QBYTES 20
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
  uint v[5];
  Q_LOAD(bb, v, 5)
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    const uvec4 b = (uvec4(v[k + 1]) >> uvec4(0, 8, 16, 24)) & 0xFFu;
    const vec4 lo = vec4(b & 15u), hi = vec4(b >> 4);
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      q[4 * k + c] = lo[c];
      q[16 + 4 * k + c] = hi[c];
    }
  }
  const vec2 dm = unpackHalf2x16(v[0]);
  sm[0] = dm;
  sm[1] = dm;
}
