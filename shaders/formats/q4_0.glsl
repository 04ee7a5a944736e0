// Q4_0: 18-byte blocks of 32: fp16 d, qs[16]; element j < 16 is the low nibble of qs[j], element
// j + 16 its high nibble; w = (nibble - 8) * d. One group per block: runs = low / high nibbles.
#define QK 32
#define QBYTES 18
#define QGROUPS 1
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 16
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[4];
  Q_LOAD(bb + 2u, v, 4)
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    const uvec4 b = (uvec4(v[k]) >> uvec4(0, 8, 16, 24)) & 0xFFu;
    const vec4 lo = vec4(b & 15u) - 8.0, hi = vec4(b >> 4) - 8.0;
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      q[4 * k + c] = lo[c];
      q[16 + 4 * k + c] = hi[c];
    }
  }
  const float d = q_f16(bb);
  sm[0] = vec2(d, 0.0);
  sm[1] = vec2(d, 0.0);
}
