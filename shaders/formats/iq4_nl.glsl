// IQ4_NL: 18-byte blocks of 32 laid out as Q4_0 (fp16 d, qs[16], low nibbles first), but a nibble
// indexes a fixed non-linear table: w = kvalues[nibble] * d.
#define QK 32
#define QBYTES 18
#define QGROUPS 1
#define QNRUN 2
#define QRUN 16
#define QRUN_STRIDE 16
#include "formats/common.glsl"
#include "formats/iq4_values.glsl"

uint q_run_start(uint g) {
  return 0u;
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  uint v[4];
  Q_LOAD(bb + 2u, v, 4)
  iq4_values(v, q);
  const float d = q_f16(bb);
  sm[0] = vec2(d, 0.0);
  sm[1] = vec2(d, 0.0);
}
