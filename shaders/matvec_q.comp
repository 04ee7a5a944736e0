#version 450
// Matrix-vector products with quantized weights read as stored in GGUF, for one token or a few
// at a time:
//   y[t, m] = sum_k W[m, k] * x[t, k], f32 accumulation.
//   W: [M x K] in the format selected by -DFMT_<NAME> (shaders/formats/), rows of K / QK blocks
//   back to back, bound as uint words (TEXEL: W and x as texel buffers)   x: [T x K] f32
//   y: [T x M] f32   K a multiple of QK.
// One workgroup computes NR consecutive rows for NT consecutive tokens. Each thread walks a
// strided slice of the row's 32-element groups (shaders/formats/format.glsl): it loads the
// group's x values of the NT tokens once and uses them for all NR rows, decoding each row's group
// once for the NT tokens and applying the scales per run (sum q*x times the run's scale, plus its
// offset times sum x). The reduction is matvec_reduce.glsl's: shared memory, or subgroupAdd with
// USE_SUBGROUP.
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"
#include "texel.glsl"

layout(constant_id = 0) const uint WG = 32;  // power of two
layout(constant_id = 1) const uint NR = 8;   // rows per workgroup
layout(constant_id = 2) const uint NT = 1;   // tokens per workgroup
layout(local_size_x_id = 0) in;
const bool PAIRS = false;

#ifdef TEXEL
// W and x through texel buffers (W one word per R32_UINT texel, x four floats per
// R32G32B32A32_SFLOAT texel: every format's runs are whole vec4s): on CPU drivers a texel fetch
// is one vector gather, a storage-buffer load a per-lane loop (docs/perf.md).
TEXEL_UINT(0) wqt;
TEXEL_VEC4(1) xt;
#define Q_WORD(i) FETCH(wqt, int(i)).x
#define Q_NWORDS FETCH_COUNT(wqt)
#else
layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint M;
  uint K;
  uint T;
} p;

#include "formats/format.glsl"

void matvec_pair(uint row, uint t, float a, float b) {}  // no paired rows here
#include "matvec_reduce.glsl"

void main() {
  const uint m_blocks = (p.M + NR - 1) / NR;
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (block >= m_blocks * ((p.T + NT - 1) / NT)) return;  // uniform across the workgroup
  const uint row0 = (block % m_blocks) * NR, t0 = (block / m_blocks) * NT;
  const uint tid = gl_LocalInvocationID.x;
  const uint nb = p.K / QK;  // blocks per row

  // Rows past M and tokens past T re-read row M - 1 / token T - 1 and are never written.
  uint base[NR];  // byte offset of each row
  [[unroll]] for (uint r = 0; r < NR; ++r) base[r] = min(row0 + r, p.M - 1) * nb * QBYTES;
  uint xrow[NT];
  [[unroll]] for (uint t = 0; t < NT; ++t) xrow[t] = min(t0 + t, p.T - 1) * p.K;
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) acc[i] = 0.0;

  for (uint gi = tid; gi < nb * QGROUPS; gi += WG) {
    const uint b = gi / QGROUPS, g = gi % QGROUPS;
    const uint x0 = b * QK + q_run_start(g);
    float xv[NT * QG];  // xv[t * QG + r * QRUN + i]
#ifdef Q_HAS_MIN
    float xs[NT * QNRUN];
#endif
    [[unroll]] for (uint t = 0; t < NT; ++t) {
      [[unroll]] for (uint r = 0; r < QNRUN; ++r) {
        float s = 0.0;
#ifdef TEXEL
        [[unroll]] for (uint i = 0; i < QRUN; i += 4) {
          const vec4 v = FETCH(xt, int((xrow[t] + x0 + r * QRUN_STRIDE + i) / 4));
          [[unroll]] for (uint c = 0; c < 4; ++c) {
            xv[t * QG + r * QRUN + i + c] = v[c];
            s += v[c];
          }
        }
#else
        [[unroll]] for (uint i = 0; i < QRUN; ++i) {
          const float v = x[xrow[t] + x0 + r * QRUN_STRIDE + i];
          xv[t * QG + r * QRUN + i] = v;
          s += v;
        }
#endif
#ifdef Q_HAS_MIN
        xs[t * QNRUN + r] = s;
#endif
      }
    }
    // Not unrolled: one decode in the code instead of NR keeps LLVM compile times short.
    [[dont_unroll]] for (uint row = 0; row < NR; ++row) {
      float q[QG];
      vec2 sm[QNRUN];
      q_group(base[row] + b * QBYTES, g, q, sm);
      [[unroll]] for (uint t = 0; t < NT; ++t) {
        float a = acc[row * NT + t];
        [[unroll]] for (uint r = 0; r < QNRUN; ++r) {
          float d = 0.0;
          [[unroll]] for (uint i = 0; i < QRUN; ++i)
            d = fma(q[r * QRUN + i], xv[t * QG + r * QRUN + i], d);
          a = fma(sm[r].x, d, a);
#ifdef Q_HAS_MIN
          a = fma(sm[r].y, xs[t * QNRUN + r], a);
#endif
        }
        acc[row * NT + t] = a;
      }
    }
  }

  matvec_store(row0, t0, tid);
}
