// Q6_K: 210-byte super-blocks of 256: ql[128], qh[64], int8 scales[16], fp16 d. Half n < 2 of
// 128 elements uses ql[64n ..], qh[32n ..], scales[8n ..]; for l < 32 it holds
//   element l:      low nibble of ql[l]       | bits 0-1 of qh[l] << 4, scale l / 16
//   element l + 32: low nibble of ql[l + 32]  | bits 2-3 of qh[l] << 4, scale l / 16 + 2
//   element l + 64: high nibble of ql[l]      | bits 4-5 of qh[l] << 4, scale l / 16 + 4
//   element l + 96: high nibble of ql[l + 32] | bits 6-7 of qh[l] << 4, scale l / 16 + 6
// and w = d * scale * (q - 32). Group g < 8: n = g / 4, l = 8 (g % 4) .. + 7: four runs of 8.
#define QK 256
#define QBYTES 210
#define QGROUPS 8
#define QNRUN 4
#define QRUN 8
#define QRUN_STRIDE 32
#include "formats/common.glsl"

uint q_run_start(uint g) {
  return 128u * (g >> 2) + 8u * (g & 3u);
}

void q_group(uint bb, uint g, out float q[QG], out vec2 sm[QNRUN]) {
  const uint n = g >> 2, i = g & 3u;
  uint la[2], lb[2], hb[2], sc[2];
  Q_LOAD(bb + 64u * n + 8u * i, la, 2)
  Q_LOAD(bb + 64u * n + 32u + 8u * i, lb, 2)
  Q_LOAD(bb + 128u + 32u * n + 8u * i, hb, 2)
  Q_LOAD(bb + 192u + 8u * n, sc, 2)
  [[unroll]] for (uint k = 0; k < 2; ++k) {
    const uvec4 sh = uvec4(0, 8, 16, 24);
    const uvec4 a = (uvec4(la[k]) >> sh) & 0xFFu, b = (uvec4(lb[k]) >> sh) & 0xFFu,
                h = (uvec4(hb[k]) >> sh) & 0xFFu;
    const vec4 q0 = vec4((a & 15u) | ((h & 3u) << 4)) - 32.0;
    const vec4 q1 = vec4((b & 15u) | (((h >> 2) & 3u) << 4)) - 32.0;
    const vec4 q2 = vec4((a >> 4) | (((h >> 4) & 3u) << 4)) - 32.0;
    const vec4 q3 = vec4((b >> 4) | ((h >> 6) << 4)) - 32.0;
    [[unroll]] for (uint e = 0; e < 4; ++e) {
      q[4 * k + e] = q0[e];
      q[8 + 4 * k + e] = q1[e];
      q[16 + 4 * k + e] = q2[e];
      q[24 + 4 * k + e] = q3[e];
    }
  }
  const float d = q_f16(bb + 208u);
  const int s = int(i >> 1);
  [[unroll]] for (uint r = 0; r < 4; ++r) {
    const int idx = s + 2 * int(r);  // scale byte within sc (< 8)
    sm[r] = vec2(d * float(bitfieldExtract(int(sc[idx >> 2]), 8 * (idx & 3), 8)), 0.0);
  }
}
