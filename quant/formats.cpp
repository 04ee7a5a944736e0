// Weight format table and the CPU reference quantizers/dequantizers of the float, 32-element
// block, IQ4_NL and IQ4_XS formats. Block layouts and arithmetic follow ggml (ggml-common.h,
// ggml-quants.c) exactly; float expressions keep ggml's evaluation order so that results are
// bit-identical to a ggml build without FMA contraction. (Caveat: a build of this file for a
// target with FMA, e.g. -march=native or aarch64, lets g++ contract a * b + c and may then differ
// from ggml's reference quantizer in the last bit of a scale; x86-64 baseline builds do not.)
//
// Known deviation: IQ4_NL quantizes like ggml's quantize_iq4_nl without an imatrix (scale search,
// ntry = 7); recent ggml's quantize_row_iq4_nl_ref skips that search (ntry = -1).
#include "quant/formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "quant/half.h"
#include "quant/quant_impl.h"

namespace vkllm {

using namespace qimpl;

namespace {

// ---------------------------------------------------------------- float formats

void quantize_f32(const float* x, uint8_t* out, int64_t n) {
  std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
}
void dequantize_f32(const uint8_t* q, float* out, int64_t n) {
  std::memcpy(out, q, static_cast<size_t>(n) * sizeof(float));
}

void quantize_f16(const float* x, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(out + 2 * i, fp32_to_fp16(x[i]));
}
void dequantize_f16(const uint8_t* q, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(load_u16(q + 2 * i));
}

void quantize_bf16(const float* x, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(out + 2 * i, fp32_to_bf16(x[i]));
}
void dequantize_bf16(const uint8_t* q, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(load_u16(q + 2 * i));
}

// ---------------------------------------------------------------- Q8_0
// block_q8_0: fp16 d, int8 qs[32]. x = qs[j] * d.

constexpr int kQ8_0Bytes = 2 + kQK;

void quantize_q8_0(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ8_0Bytes) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out, d);
    for (int j = 0; j < kQK; ++j) {
      out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
    }
  }
}

void dequantize_q8_0(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, q += kQ8_0Bytes, out += kQK) {
    const float d = load_half(q);
    for (int j = 0; j < kQK; ++j) out[j] = static_cast<int8_t>(q[2 + j]) * d;
  }
}

// ---------------------------------------------------------------- Q4_0
// block_q4_0: fp16 d, qs[16]; element j in the low nibble of qs[j], element j + 16 in the high
// nibble. x = (q - 8) * d.

constexpr int kQ4_0Bytes = 2 + kQK / 2;

// The value of largest magnitude (the first one, on ties), with its sign.
float signed_absmax(const float* x, int n, float* amax_out) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax_out) *amax_out = amax;
  return max;
}

void quantize_q4_0(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ4_0Bytes) {
    const float max = signed_absmax(x, kQK, nullptr);
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out, d);
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[kQK / 2 + j] * id;
      // ggml truncates (int8_t)(x + 8.5f); the argument lies in [0.5, 16.5] up to rounding.
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f)));
      out[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_0(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, q += kQ4_0Bytes, out += kQK) {
    const float d = load_half(q);
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = (q[2 + j] & 0x0F) - 8;
      const int x1 = (q[2 + j] >> 4) - 8;
      out[j] = x0 * d;
      out[j + kQK / 2] = x1 * d;
    }
  }
}

// ---------------------------------------------------------------- Q4_1
// block_q4_1: fp16 d, fp16 m, qs[16] (nibbles as Q4_0). x = q * d + m.

constexpr int kQ4_1Bytes = 4 + kQK / 2;

void min_max(const float* x, int n, float* mn, float* mx) {
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *mn = lo;
  *mx = hi;
}

void quantize_q4_1(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ4_1Bytes) {
    float min, max;
    min_max(x, kQK, &min, &max);
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out, d);
    store_half(out + 2, min);
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[kQK / 2 + j] - min) * id;
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f)));
      out[4 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_1(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, q += kQ4_1Bytes, out += kQK) {
    const float d = load_half(q);
    const float m = load_half(q + 2);
    for (int j = 0; j < kQK / 2; ++j) {
      const int x0 = q[4 + j] & 0x0F;
      const int x1 = q[4 + j] >> 4;
      out[j] = x0 * d + m;
      out[j + kQK / 2] = x1 * d + m;
    }
  }
}

// ---------------------------------------------------------------- Q5_0
// block_q5_0: fp16 d, uint32 qh (bit j = 5th bit of element j), qs[16] low nibbles as Q4_0.
// x = (q - 16) * d.

constexpr int kQ5_0Bytes = 2 + 4 + kQK / 2;

void quantize_q5_0(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ5_0Bytes) {
    const float max = signed_absmax(x, kQK, nullptr);
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out, d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[kQK / 2 + j] * id;
      const uint32_t q0 = std::min(31, static_cast<int>(static_cast<int8_t>(x0 + 16.5f)));
      const uint32_t q1 = std::min(31, static_cast<int>(static_cast<int8_t>(x1 + 16.5f)));
      out[6 + j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    store_u32(out + 2, qh);
  }
}

void dequantize_q5_0(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, q += kQ5_0Bytes, out += kQK) {
    const float d = load_half(q);
    const uint32_t qh = load_u32(q + 2);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      const int x0 = ((q[6 + j] & 0x0F) | h0) - 16;
      const int x1 = ((q[6 + j] >> 4) | h1) - 16;
      out[j] = x0 * d;
      out[j + kQK / 2] = x1 * d;
    }
  }
}

// ---------------------------------------------------------------- Q5_1
// block_q5_1: fp16 d, fp16 m, uint32 qh, qs[16]. x = q * d + m.

constexpr int kQ5_1Bytes = 4 + 4 + kQK / 2;

void quantize_q5_1(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK, out += kQ5_1Bytes) {
    float min, max;
    min_max(x, kQK, &min, &max);
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out, d);
    store_half(out + 2, min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[kQK / 2 + j] - min) * id;
      // ggml has no clamp here: (max - min) * id rounds to at most 31.
      const uint32_t q0 = static_cast<uint8_t>(x0 + 0.5f);
      const uint32_t q1 = static_cast<uint8_t>(x1 + 0.5f);
      out[8 + j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    store_u32(out + 4, qh);
  }
}

void dequantize_q5_1(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, q += kQ5_1Bytes, out += kQK) {
    const float d = load_half(q);
    const float m = load_half(q + 2);
    const uint32_t qh = load_u32(q + 4);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      const int x0 = (q[8 + j] & 0x0F) | h0;
      const int x1 = (q[8 + j] >> 4) | h1;
      out[j] = x0 * d + m;
      out[j + kQK / 2] = x1 * d + m;
    }
  }
}

// ---------------------------------------------------------------- IQ4_NL
// block_iq4_nl: fp16 d, qs[16] (nibbles as Q4_0). x = kvalues_iq4nl[q] * d.

constexpr int kIQ4NLBytes = 2 + kQK / 2;
constexpr int8_t kValuesIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

// Index of the table entry nearest to x; ties go to the larger entry. The midpoints are compared
// doubled so that both sides are exact (as ggml's best_index_int8).
int best_index_iq4nl(float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = x2 >= static_cast<float>(kValuesIQ4NL[j - 1] + kValuesIQ4NL[j]) ? j : idx;
  }
  return idx;
}

// The scale search of ggml's quantize_row_iq4_nl_impl for one block of 32 without importance
// weights (weights x^2) and ntry = 7, as quantize_iq4_nl and quantize_iq4_xs run it: the scale of
// the best of 15 candidate grids, or 0 for a block of (almost) zeros.
float iq4nl_block_scale(const float* x) {
  constexpr int kNtry = 7;
  float weight[kQK];
  for (int j = 0; j < kQK; ++j) weight[j] = x[j] * x[j];
  float amax = 0.0f;
  const float max = signed_absmax(x, kQK, &amax);
  if (amax < 1e-15f) return 0.0f;
  float d = -max / kValuesIQ4NL[0];
  float id = 1 / d;
  float sumqx = 0, sumq2 = 0;
  for (int j = 0; j < kQK; ++j) {
    const float q = kValuesIQ4NL[best_index_iq4nl(id * x[j])];
    const float w = weight[j];
    sumqx += w * q * x[j];
    sumq2 += w * q * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kNtry; itry <= kNtry; ++itry) {
    id = (itry + kValuesIQ4NL[0]) / max;
    sumqx = sumq2 = 0;
    for (int j = 0; j < kQK; ++j) {
      const float q = kValuesIQ4NL[best_index_iq4nl(id * x[j])];
      const float w = weight[j];
      sumqx += w * q * x[j];
      sumq2 += w * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// The 16 nibble bytes of a block of 32 at scale 1 / id (element j low, j + 16 high).
void iq4nl_nibbles(const float* x, float id, uint8_t* qs) {
  for (int j = 0; j < kQK / 2; ++j)
    qs[j] = static_cast<uint8_t>(best_index_iq4nl(id * x[j]) |
                                 (best_index_iq4nl(id * x[kQK / 2 + j]) << 4));
}

// ggml's quantize_iq4_nl without an imatrix (what llama-quantize writes). (Recent ggml's
// quantize_row_iq4_nl_ref passes ntry = -1 and skips the search; the dequantize side is
// identical either way.)
void quantize_iq4_nl_block(const float* x, uint8_t* out) {
  const float scale = iq4nl_block_scale(x);
  store_half(out, scale);
  iq4nl_nibbles(x, scale != 0.0f ? 1 / scale : 0, out + 2);
}

void quantize_iq4_nl(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b) quantize_iq4_nl_block(x + b * kQK, out + b * kIQ4NLBytes);
}

void dequantize_iq4_nl(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, q += kIQ4NLBytes, out += kQK) {
    const float d = load_half(q);
    for (int j = 0; j < kQK / 2; ++j) {
      out[j] = d * kValuesIQ4NL[q[2 + j] & 0x0F];
      out[j + kQK / 2] = d * kValuesIQ4NL[q[2 + j] >> 4];
    }
  }
}

// ---------------------------------------------------------------- IQ4_XS
// block_iq4_xs (256 elements): fp16 d, u16 scales_h, scales_l[4], qs[128]. Block s < 8 of 32 has
// the 6-bit scale ls = (scales_l[s / 2] >> 4 (s % 2) & 15) | (scales_h >> 2 s & 3) << 4 and its
// nibbles in qs[16 s ..] as IQ4_NL's; x = d * (ls - 32) * kvalues_iq4nl[q].

constexpr int kIQ4XSBytes = 2 + 2 + kQKK / 64 + kQKK / 2;

int iq4xs_scale(const uint8_t* block, int s) {
  const int lo = (block[4 + s / 2] >> (4 * (s % 2))) & 0xF;
  const int hi = (load_u16(block + 2) >> (2 * s)) & 3;
  return lo | (hi << 4);
}

// ggml's quantize_iq4_xs without an imatrix: each block's searched scale, the super-block scale
// d = -max / 32 (max: the block scale largest in magnitude), the block scales rounded to d * l,
// l in -32..31, and the nibbles requantized against d * l (d unrounded, as ggml).
void quantize_iq4_xs(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK, out += kIQ4XSBytes) {
    float scales[kQKK / kQK];
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < kQKK / kQK; ++ib) {
      scales[ib] = iq4nl_block_scale(x + kQK * ib);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    const float d = -max_scale / 32;
    store_half(out, d);
    const float id = d != 0.0f ? 1 / d : 0.f;
    uint16_t scales_h = 0;
    std::memset(out + 4, 0, kQKK / 64);
    for (int ib = 0; ib < kQKK / kQK; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = std::max(-32, std::min(31, l));
      const float dl = d * l;
      iq4nl_nibbles(x + kQK * ib, dl != 0.0f ? 1 / dl : 0.f, out + 8 + 16 * ib);
      l += 32;
      out[4 + ib / 2] = static_cast<uint8_t>(out[4 + ib / 2] | ((l & 0xF) << (4 * (ib % 2))));
      scales_h = static_cast<uint16_t>(scales_h | ((l >> 4) << (2 * ib)));
    }
    store_u16(out + 2, scales_h);
  }
}

void dequantize_iq4_xs(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, q += kIQ4XSBytes) {
    const float d = load_half(q);
    for (int ib = 0; ib < kQKK / kQK; ++ib, out += kQK) {
      const float dl = d * (iq4xs_scale(q, ib) - 32);
      const uint8_t* qs = q + 8 + 16 * ib;
      for (int j = 0; j < kQK / 2; ++j) {
        out[j] = dl * kValuesIQ4NL[qs[j] & 0x0F];
        out[j + kQK / 2] = dl * kValuesIQ4NL[qs[j] >> 4];
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- planar splits (quant_impl.h)

namespace qimpl {

void split_q4_1(const uint8_t* block, int8_t* q, float* ab) {
  ab[0] = load_half(block);
  ab[1] = -load_half(block + 2);  // x = q * d + m = q * d - (-m)
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = static_cast<int8_t>(block[4 + j] & 0x0F);
    q[j + kQK / 2] = static_cast<int8_t>(block[4 + j] >> 4);
  }
}

// Q5_0 and Q5_1: the 5th bits of elements j and j + 16 are bits j and j + 16 of qh.
void split_q5_0(const uint8_t* block, int8_t* q, float* ab) {
  ab[0] = load_half(block);
  ab[1] = 0.0f;
  const uint32_t qh = load_u32(block + 2);
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = static_cast<int8_t>(((block[6 + j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16);
    q[j + kQK / 2] = static_cast<int8_t>(((block[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16);
  }
}

void split_q5_1(const uint8_t* block, int8_t* q, float* ab) {
  ab[0] = load_half(block);
  ab[1] = -load_half(block + 2);
  const uint32_t qh = load_u32(block + 4);
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = static_cast<int8_t>((block[8 + j] & 0x0F) | (((qh >> j) << 4) & 0x10));
    q[j + kQK / 2] = static_cast<int8_t>((block[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10));
  }
}

void split_iq4_nl(const uint8_t* block, int8_t* q, float* ab) {
  ab[0] = load_half(block);
  ab[1] = 0.0f;
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = kValuesIQ4NL[block[2 + j] & 0x0F];
    q[j + kQK / 2] = kValuesIQ4NL[block[2 + j] >> 4];
  }
}

void split_iq4_xs(const uint8_t* block, int8_t* q, float* ab) {
  const float d = load_half(block);
  for (int ib = 0; ib < kQKK / kQK; ++ib) {
    ab[2 * ib] = d * (iq4xs_scale(block, ib) - 32);
    ab[2 * ib + 1] = 0.0f;
    const uint8_t* qs = block + 8 + 16 * ib;
    for (int j = 0; j < kQK / 2; ++j) {
      q[kQK * ib + j] = kValuesIQ4NL[qs[j] & 0x0F];
      q[kQK * ib + j + kQK / 2] = kValuesIQ4NL[qs[j] >> 4];
    }
  }
}

}  // namespace qimpl

namespace {

// ---------------------------------------------------------------- the table

// max_rel_rmse: measured relative rmse on N(0, 1) data times ~1.5 (tests/quant/test_formats.cpp).
constexpr WeightFormat kFormats[] = {
    {GGMLType::F32, "F32", "f32", 1, 4, 0.0, quantize_f32, dequantize_f32},
    {GGMLType::F16, "F16", "f16", 1, 2, 3.1e-4, quantize_f16, dequantize_f16},
    {GGMLType::BF16, "BF16", "bf16", 1, 2, 2.7e-3, quantize_bf16, dequantize_bf16},
    {GGMLType::Q8_0, "Q8_0", "q8_0", kQK, kQ8_0Bytes, 0.008, quantize_q8_0, dequantize_q8_0},
    {GGMLType::Q4_0, "Q4_0", "q4_0", kQK, kQ4_0Bytes, 0.13, quantize_q4_0, dequantize_q4_0},
    {GGMLType::Q4_1, "Q4_1", "q4_1", kQK, kQ4_1Bytes, 0.12, quantize_q4_1, dequantize_q4_1},
    {GGMLType::Q5_0, "Q5_0", "q5_0", kQK, kQ5_0Bytes, 0.065, quantize_q5_0, dequantize_q5_0},
    {GGMLType::Q5_1, "Q5_1", "q5_1", kQK, kQ5_1Bytes, 0.06, quantize_q5_1, dequantize_q5_1},
    {GGMLType::Q2_K, "Q2_K", "q2_k", kQKK, 84, 0.45, quantize_q2_k, dequantize_q2_k},
    {GGMLType::Q3_K, "Q3_K", "q3_k", kQKK, 110, 0.23, quantize_q3_k, dequantize_q3_k},
    {GGMLType::Q4_K, "Q4_K", "q4_k", kQKK, 144, 0.11, quantize_q4_k, dequantize_q4_k},
    {GGMLType::Q5_K, "Q5_K", "q5_k", kQKK, 176, 0.055, quantize_q5_k, dequantize_q5_k},
    {GGMLType::Q6_K, "Q6_K", "q6_k", kQKK, 210, 0.028, quantize_q6_k, dequantize_q6_k},
    {GGMLType::IQ4_NL, "IQ4_NL", "iq4_nl", kQK, kIQ4NLBytes, 0.12, quantize_iq4_nl,
     dequantize_iq4_nl},
    {GGMLType::IQ4_XS, "IQ4_XS", "iq4_xs", kQKK, kIQ4XSBytes, 0.12, quantize_iq4_xs,
     dequantize_iq4_xs},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

const WeightFormat& require_format(GGMLType type, const char* what) {
  const WeightFormat* f = weight_format(type);
  if (!f) {
    throw std::invalid_argument(
        fmt::format("{}: {} is not a weight format vkllm can run", what, type_name(type)));
  }
  return *f;
}

}  // namespace

std::span<const WeightFormat> weight_formats() {
  return kFormats;
}

const WeightFormat* weight_format(GGMLType type) {
  for (const WeightFormat& f : kFormats) {
    if (f.type == type) return &f;
  }
  return nullptr;
}

const WeightFormat* weight_format_by_name(std::string_view name) {
  for (const WeightFormat& f : kFormats) {
    if (iequals(f.name, name)) return &f;
  }
  return nullptr;
}

std::vector<uint8_t> quantize_rows(GGMLType type, const float* x, int64_t rows, int64_t cols) {
  const WeightFormat& f = require_format(type, "quantize_rows");
  if (rows < 0) {
    throw std::invalid_argument(
        fmt::format("quantize_rows: {}: negative row count {}", f.name, rows));
  }
  if (cols <= 0 || cols % f.block_size != 0) {
    throw std::invalid_argument(
        fmt::format("quantize_rows: {}: cols = {} is not a positive multiple of the block size {}",
                    f.name, cols, f.block_size));
  }
  const int64_t blocks_per_row = cols / f.block_size;
  const int64_t row_bytes = blocks_per_row * f.block_bytes;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  if (rows > 0 && !x) {
    throw std::invalid_argument(fmt::format("quantize_rows: {}: null input", f.name));
  }
  for (int64_t r = 0; r < rows; ++r) f.quantize(x + r * cols, out.data() + r * row_bytes, cols);
  return out;
}

std::vector<float> dequantize_all(GGMLType type, std::span<const uint8_t> q, int64_t n) {
  const WeightFormat& f = require_format(type, "dequantize_all");
  if (n < 0 || n % f.block_size != 0) {
    throw std::invalid_argument(
        fmt::format("dequantize_all: {}: n = {} is not a multiple of the block size {}", f.name, n,
                    f.block_size));
  }
  const uint64_t need = static_cast<uint64_t>(n / f.block_size) * f.block_bytes;
  if (q.size() < need) {
    throw std::invalid_argument(fmt::format("dequantize_all: {}: {} elements need {} bytes, got {}",
                                            f.name, n, need, q.size()));
  }
  std::vector<float> out(static_cast<size_t>(n));
  if (n > 0) f.dequantize(q.data(), out.data(), n);
  return out;
}

}  // namespace vkllm
