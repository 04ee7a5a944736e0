// IQ4_NL: 18-byte blocks of 32 laid out as Q4_0 (fp16 d, qs[16], low nibbles first), but a nibble
// indexes a fixed non-linear table: w = kvalues[nibble] * d.
#define QK 32
#define QBYTES 18
#define QGROUPS 1
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 16
#include "formats/common.glsl"

const float kIq4nlValues[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                         1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[4];
  Q_LOAD(bb + 2u, v, 4)
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      const uint b = (v[k] >> (8 * c)) & 0xFFu;
      q[4 * k + c] = kIq4nlValues[b & 15u];
      q[16 + 4 * k + c] = kIq4nlValues[b >> 4];
    }
  }
  const float d = q_f16(bb);
  sm[0] = vec2(d, 0.0);
  sm[1] = vec2(d, 0.0);
}
