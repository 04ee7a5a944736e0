// Q8_0: 34-byte blocks of 32: fp16 d, int8 qs[32]; w = qs[j] * d. One group per block.
#define QK 32
#define QBYTES 34
#define QGROUPS 1
#define QNRUN 1
#define QRUN 32
#define QRUN_STRIDE 32
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[8];
  Q_LOAD(bb + 2u, v, 8)
  [[unroll]] for (uint k = 0; k < 8; ++k) {
    const int w = int(v[k]);
    q[4 * k + 0] = float(bitfieldExtract(w, 0, 8));
    q[4 * k + 1] = float(bitfieldExtract(w, 8, 8));
    q[4 * k + 2] = float(bitfieldExtract(w, 16, 8));
    q[4 * k + 3] = float(bitfieldExtract(w, 24, 8));
  }
  sm[0] = vec2(q_f16(bb), 0.0);
}
