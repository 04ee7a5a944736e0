// BF16: plain bfloat16 values, taken 32 (64 bytes, 16 words) at a time, so rows need K a multiple
// of 32 here.
#define QK 32
#define QBYTES 64
#define QGROUPS 1
#define QNRUN 1
#define QRUN 32
#define QRUN_STRIDE 32
#define Q_ALIGNED4
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[16];
  Q_LOAD(bb, v, 16)
  [[unroll]] for (uint k = 0; k < 16; ++k) {
    q[2 * k] = uintBitsToFloat(v[k] << 16);
    q[2 * k + 1] = uintBitsToFloat(v[k] & 0xFFFF0000u);
  }
  sm[0] = vec2(1.0, 0.0);
}
