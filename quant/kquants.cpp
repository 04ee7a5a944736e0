// K-quant formats (Q2_K .. Q6_K): super-blocks of 256 elements with quantized sub-block scales.
// Layouts (ggml-common.h), reference quantizers (quantize_row_q*_K_ref without importance
// weights) and dequantizers (dequantize_row_q*_K) follow ggml's logic and float evaluation order.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/quant_impl.h"

namespace vkllm::qimpl {

namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Block layouts: byte offsets of each field.
namespace q2k {  // scales[16] (low nibble scale, high nibble min), qs[64], fp16 d, fp16 dmin
constexpr int kScales = 0, kQs = 16, kD = 80, kDmin = 82, kBytes = 84;
}
namespace q3k {  // hmask[32], qs[64], scales[12] (16 packed 6-bit scales), fp16 d
constexpr int kHmask = 0, kQs = 32, kScales = 96, kD = 108, kBytes = 110;
}
namespace q4k {  // fp16 d, fp16 dmin, scales[12] (8 packed 6-bit scale/min pairs), qs[128]
constexpr int kD = 0, kDmin = 2, kScales = 4, kQs = 16, kBytes = 144;
}
namespace q5k {  // fp16 d, fp16 dmin, scales[12], qh[32], qs[128]
constexpr int kD = 0, kDmin = 2, kScales = 4, kQh = 16, kQs = 48, kBytes = 176;
}
namespace q6k {  // ql[128], qh[64], int8 scales[16], fp16 d
constexpr int kQl = 0, kQh = 128, kScales = 192, kD = 208, kBytes = 210;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights (weights x^2): symmetric
// quantization to [-nmax, nmax - 1], stored as L = l + nmax, with a search over 19 candidate
// scales. Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// ggml's make_q3_quants with do_rmse: start from the max-based scale, then up to 5 rounds of
// per-element coordinate descent on the x^2-weighted error. L = l + nmax.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ggml's make_qkx2_quants: asymmetric quantization x ~ scale * L - the_min with L in [0, nmax],
// weighted least squares over nstep + 1 candidate scales. Returns the scale; *the_min >= 0.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Q4_K/Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. Sub-blocks 0..3
// keep theirs in the low 6 bits of q[j] and q[j + 4]; 4..7 in the nibbles of q[j + 4] with the
// top two bits in the high bits of q[j - 4] (scale) and q[j] (min).
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Inverse of get_scale_min_k4 for all 8 sub-blocks; ls, lm <= 63.
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      q[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Q3_K: signed 6-bit scale of sub-block j (0..15) from the 12 packed bytes: low nibble in byte j
// (j < 8) or the high nibble of byte j - 8, top two bits in byte 8 + j % 4 at bit 2 * (j / 4).
int q3k_scale(const uint8_t* s, int j) {
  const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
  const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

// Shared tail of Q4_K/Q5_K: 6-bit quantized scales and mins from per-sub-block floats, then
// requantize every element against the stored (rounded) scales. Writes d, dmin, scales; L gets
// 0..nmax.
void kx_scales_and_requantize(const float* x, const float* scales, const float* mins, int nmax,
                              uint8_t* block_d, uint8_t* block_scales, uint8_t* L) {
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQKK / 32; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < kQKK / 32; ++j) {
    // ggml stores nearest_int into a uint8_t before clamping; keep that conversion.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_scale_min_k4(ls, lm, block_scales);
  store_half(block_d, max_scale / 63.f);
  store_half(block_d + 2, max_min / 63.f);
  const float d_all = load_half(block_d);
  const float dmin_all = load_half(block_d + 2);
  for (int j = 0; j < kQKK / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, block_scales, &sc, &m);
    const float d = d_all * sc;
    if (d == 0.0f) continue;
    const float dm = dmin_all * m;
    for (int ii = 0; ii < 32; ++ii) {
      int l = nearest_int((x[32 * j + ii] + dm) / d);
      l = std::max(0, std::min(nmax, l));
      L[32 * j + ii] = static_cast<uint8_t>(l);
    }
  }
}

// Sub-block scales/mins of Q4_K/Q5_K (make_qkx2_quants with ggml's weights av_x + |x|).
void kx_sub_blocks(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* L,
                   float* scales, float* mins) {
  float weights[32];
  uint8_t Laux[32];
  for (int j = 0; j < kQKK / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin,
                                 rdelta, nstep, false);
  }
}

}  // namespace

// ---------------------------------------------------------------- Q2_K
// x = d * (scales[s] & 0xF) * q - dmin * (scales[s] >> 4), q 2-bit, s = 16-element sub-block.
// Element 128 * h + 32 * k + l lives in qs[32 * h + l] at bits 2k, 2k + 1.

void quantize_q2_k(const float* x, uint8_t* out, int64_t n) {
  constexpr float q4scale = 15.f;
  uint8_t L[kQKK];
  uint8_t Laux[16];
  float weights[16];
  float mins[kQKK / 16];
  float scales[kQKK / 16];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK, out += q2k::kBytes) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQKK / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                   0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    uint8_t* sc = out + q2k::kScales;
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < kQKK / 16; ++j) {
        sc[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      }
      store_half(out + q2k::kD, max_scale / q4scale);
    } else {
      for (int j = 0; j < kQKK / 16; ++j) sc[j] = 0;
      store_half(out + q2k::kD, 0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < kQKK / 16; ++j) {
        const uint32_t l = static_cast<uint32_t>(nearest_int(iscale * mins[j]));
        sc[j] = static_cast<uint8_t>(sc[j] | (l << 4));
      }
      store_half(out + q2k::kDmin, max_min / q4scale);
    } else {
      store_half(out + q2k::kDmin, 0.f);
    }
    const float d_all = load_half(out + q2k::kD);
    const float dmin_all = load_half(out + q2k::kDmin);
    for (int j = 0; j < kQKK / 16; ++j) {
      const float d = d_all * (sc[j] & 0xF);
      if (d == 0.0f) continue;
      const float dm = dmin_all * (sc[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        int l = nearest_int((x[16 * j + ii] + dm) / d);
        l = std::max(0, std::min(3, l));
        L[16 * j + ii] = static_cast<uint8_t>(l);
      }
    }
    uint8_t* qs = out + q2k::kQs;
    for (int j = 0; j < kQKK; j += 128) {
      for (int l = 0; l < 32; ++l) {
        qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                             (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
      }
    }
  }
}

void dequantize_q2_k(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, q += q2k::kBytes) {
    const float d = load_half(q + q2k::kD);
    const float min = load_half(q + q2k::kDmin);
    const uint8_t* scales = q + q2k::kScales;
    const uint8_t* qs = q + q2k::kQs;
    int is = 0;
    for (int h = 0; h < kQKK; h += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = scales[is++];
          const float dl = d * (sc & 0xF);
          const float ml = min * (sc >> 4);
          for (int l = 0; l < 16; ++l) {
            *out++ = dl * static_cast<int8_t>((qs[16 * half + l] >> shift) & 3) - ml;
          }
        }
        shift += 2;
      }
      qs += 32;
    }
  }
}

void split_q2_k(const uint8_t* block, int8_t* q, float* ab) {
  const float d = load_half(block + q2k::kD);
  const float min = load_half(block + q2k::kDmin);
  const uint8_t* scales = block + q2k::kScales;
  // Block j = 4 h + c of 32 (h: the half of 128, c: the 2-bit position in qs[32 h ..]).
  for (int j = 0; j < 8; ++j) {
    const int h = j / 4, c = j % 4;
    for (int half = 0; half < 2; ++half) {
      const uint8_t sc = scales[2 * j + half];
      ab[4 * j + 2 * half] = d * (sc & 0xF);
      ab[4 * j + 2 * half + 1] = min * (sc >> 4);
    }
    for (int i = 0; i < 32; ++i)
      q[32 * j + i] = static_cast<int8_t>((block[q2k::kQs + 32 * h + i] >> (2 * c)) & 3);
  }
}

// ---------------------------------------------------------------- Q3_K
// x = d * scale[s] * (q - 4), scale[s] signed 6-bit, q = 2 low bits from qs (laid out as Q2_K)
// plus a high bit from hmask: element e has it in hmask[e % 32] bit e / 32 (set means +4).

void quantize_q3_k(const float* x, uint8_t* out, int64_t n) {
  int8_t L[kQKK];
  float scales[kQKK / 16];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK, out += q3k::kBytes) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < kQKK / 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    uint8_t* sc = out + q3k::kScales;
    std::memset(sc, 0, 12);
    if (max_scale != 0.0f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kQKK / 16; ++j) {
        int l = nearest_int(iscale * scales[j]);
        l = std::max(-32, std::min(31, l)) + 32;
        if (j < 8) {
          sc[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          sc[j - 8] = static_cast<uint8_t>(sc[j - 8] | ((l & 0xF) << 4));
        }
        l >>= 4;
        sc[j % 4 + 8] = static_cast<uint8_t>(sc[j % 4 + 8] | (l << (2 * (j / 4))));
      }
      store_half(out + q3k::kD, 1 / iscale);
    } else {
      store_half(out + q3k::kD, 0.f);
    }
    const float d_all = load_half(out + q3k::kD);
    for (int j = 0; j < kQKK / 16; ++j) {
      const float d = d_all * q3k_scale(sc, j);
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        int l = nearest_int(x[16 * j + ii] / d);
        l = std::max(-4, std::min(3, l));
        L[16 * j + ii] = static_cast<int8_t>(l + 4);
      }
    }
    uint8_t* hmask = out + q3k::kHmask;
    std::memset(hmask, 0, kQKK / 8);
    for (int j = 0; j < kQKK; ++j) {
      if (L[j] > 3) {
        hmask[j % 32] = static_cast<uint8_t>(hmask[j % 32] | (1u << (j / 32)));
        L[j] = static_cast<int8_t>(L[j] - 4);
      }
    }
    uint8_t* qs = out + q3k::kQs;
    for (int j = 0; j < kQKK; j += 128) {
      for (int l = 0; l < 32; ++l) {
        qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                             (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
      }
    }
  }
}

void dequantize_q3_k(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, q += q3k::kBytes) {
    const float d_all = load_half(q + q3k::kD);
    const uint8_t* qs = q + q3k::kQs;
    const uint8_t* hm = q + q3k::kHmask;
    int scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = q3k_scale(q + q3k::kScales, j);
    uint8_t m = 1;
    int is = 0;
    for (int h = 0; h < kQKK; h += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * scales[is++];
          for (int l = 0; l < 16; ++l) {
            const int k = 16 * half + l;
            *out++ = dl * (static_cast<int8_t>((qs[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
          }
        }
        shift += 2;
        m = static_cast<uint8_t>(m << 1);
      }
      qs += 32;
    }
  }
}

void split_q3_k(const uint8_t* block, int8_t* q, float* ab) {
  const float d_all = load_half(block + q3k::kD);
  // Block j = 4 h + c of 32 as Q2_K's, the high bit of element 32 j + i in hmask[i] bit j.
  for (int j = 0; j < 8; ++j) {
    const int h = j / 4, c = j % 4;
    for (int half = 0; half < 2; ++half)
      ab[2 * j + half] = d_all * q3k_scale(block + q3k::kScales, 2 * j + half);
    for (int i = 0; i < 32; ++i) {
      const int lo = (block[q3k::kQs + 32 * h + i] >> (2 * c)) & 3;
      const int hi = (block[q3k::kHmask + i] >> j) & 1;
      q[32 * j + i] = static_cast<int8_t>(lo | (hi << 2));
    }
  }
}

// ---------------------------------------------------------------- Q4_K
// x = d * sc[s] * q - dmin * m[s], q 4-bit, 8 sub-blocks of 32 with 6-bit sc/m
// (get_scale_min_k4). Elements 64 * c + l and 64 * c + 32 + l share qs[32 * c + l] (low, high
// nibble).

void quantize_q4_k(const float* x, uint8_t* out, int64_t n) {
  uint8_t L[kQKK];
  float mins[kQKK / 32];
  float scales[kQKK / 32];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK, out += q4k::kBytes) {
    kx_sub_blocks(x, 15, -1.f, 0.1f, 20, L, scales, mins);
    kx_scales_and_requantize(x, scales, mins, 15, out + q4k::kD, out + q4k::kScales, L);
    uint8_t* qs = out + q4k::kQs;
    for (int j = 0; j < kQKK; j += 64) {
      for (int l = 0; l < 32; ++l) qs[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      qs += 32;
    }
  }
}

void dequantize_q4_k(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, q += q4k::kBytes) {
    const float d = load_half(q + q4k::kD);
    const float min = load_half(q + q4k::kDmin);
    const uint8_t* scales = q + q4k::kScales;
    const uint8_t* qs = q + q4k::kQs;
    int is = 0;
    for (int j = 0; j < kQKK; j += 64) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *out++ = d1 * (qs[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *out++ = d2 * (qs[l] >> 4) - m2;
      qs += 32;
      is += 2;
    }
  }
}

namespace {
// Q4_K and Q5_K (same d, dmin and scales fields): the eight sub-blocks' parameters and the
// nibbles from qs (sub-blocks 2c, 2c + 1: the low and high nibbles of qs[32 c ..]).
void split_k4_nibbles(const uint8_t* block, const uint8_t* qs, int8_t* q, float* ab) {
  static_assert(q4k::kD == q5k::kD && q4k::kDmin == q5k::kDmin && q4k::kScales == q5k::kScales);
  const float d = load_half(block + q4k::kD);
  const float min = load_half(block + q4k::kDmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, block + q4k::kScales, &sc, &m);
    ab[2 * j] = d * sc;
    ab[2 * j + 1] = min * m;
    const uint8_t* src = qs + 32 * (j / 2);
    for (int i = 0; i < 32; ++i)
      q[32 * j + i] = static_cast<int8_t>(j % 2 == 0 ? src[i] & 0xF : src[i] >> 4);
  }
}
}  // namespace

void split_q4_k(const uint8_t* block, int8_t* q, float* ab) {
  split_k4_nibbles(block, block + q4k::kQs, q, ab);
}

// ---------------------------------------------------------------- Q5_K
// As Q4_K with a 5th bit: element 64 * c + l has it in qh[l] bit 2c, element 64 * c + 32 + l in
// qh[l] bit 2c + 1.

void quantize_q5_k(const float* x, uint8_t* out, int64_t n) {
  uint8_t L[kQKK];
  float mins[kQKK / 32];
  float scales[kQKK / 32];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK, out += q5k::kBytes) {
    kx_sub_blocks(x, 31, -0.5f, 0.1f, 15, L, scales, mins);
    kx_scales_and_requantize(x, scales, mins, 31, out + q5k::kD, out + q5k::kScales, L);
    uint8_t* qh = out + q5k::kQh;
    uint8_t* ql = out + q5k::kQs;
    std::memset(qh, 0, kQKK / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int c = 0; c < kQKK; c += 64) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[c + j];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        int l2 = L[c + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
      ql += 32;
    }
  }
}

void dequantize_q5_k(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, q += q5k::kBytes) {
    const float d = load_half(q + q5k::kD);
    const float min = load_half(q + q5k::kDmin);
    const uint8_t* scales = q + q5k::kScales;
    const uint8_t* qh = q + q5k::kQh;
    const uint8_t* ql = q + q5k::kQs;
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQKK; j += 64) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *out++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *out++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// Sub-block j takes the nibble Q4_K's sub-block j takes and bit j of qh[i].
void split_q5_k(const uint8_t* block, int8_t* q, float* ab) {
  split_k4_nibbles(block, block + q5k::kQs, q, ab);
  const uint8_t* qh = block + q5k::kQh;
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i)
      q[32 * j + i] = static_cast<int8_t>(q[32 * j + i] | (((qh[i] >> j) & 1) << 4));
}

// ---------------------------------------------------------------- Q6_K
// x = d * scales[s] * (q - 32), q 6-bit, 16 sub-blocks of 16 with int8 scales. In each half h of
// 128 elements, element 128h + 32k + l (k = 0..3, l = 0..31) has its low nibble in
// ql[64h + l + 32 * (k & 1)] (low nibble for k < 2, high for k >= 2) and its top two bits in
// qh[32h + l] at bit 2k.

void quantize_q6_k(const float* x, uint8_t* out, int64_t n) {
  int8_t L[kQKK];
  float scales[kQKK / 16];
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK, out += q6k::kBytes) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQKK / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(out, 0, q6k::kBytes);
      continue;
    }
    const float iscale = -128.f / max_scale;
    store_half(out + q6k::kD, 1 / iscale);
    int8_t* sc = reinterpret_cast<int8_t*>(out + q6k::kScales);
    for (int ib = 0; ib < kQKK / 16; ++ib) {
      sc[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }
    const float d_all = load_half(out + q6k::kD);
    for (int j = 0; j < kQKK / 16; ++j) {
      const float d = d_all * sc[j];
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        int l = nearest_int(x[16 * j + ii] / d);
        l = std::max(-32, std::min(31, l));
        L[16 * j + ii] = static_cast<int8_t>(l + 32);
      }
    }
    uint8_t* ql = out + q6k::kQl;
    uint8_t* qh = out + q6k::kQh;
    for (int j = 0; j < kQKK; j += 128) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l + 0] & 0xF;
        const int q2 = L[j + l + 32] & 0xF;
        const int q3 = L[j + l + 64] & 0xF;
        const int q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}

void dequantize_q6_k(const uint8_t* q, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b, q += q6k::kBytes, out += kQKK) {
    const float d = load_half(q + q6k::kD);
    const uint8_t* ql = q + q6k::kQl;
    const uint8_t* qh = q + q6k::kQh;
    const int8_t* sc = reinterpret_cast<const int8_t*>(q + q6k::kScales);
    float* y = out;
    for (int h = 0; h < kQKK; h += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// Sub-block j = 4 h + k (half h of 128, quarter k) takes ql[64 h + 32 (k % 2) + i] (low nibble for
// k < 2), qh[32 h + i] bits 2k, 2k + 1 and the scales 8 h + 2 k + i / 16, as dequantize_q6_k reads
// them.
void split_q6_k(const uint8_t* block, int8_t* q, float* ab) {
  const float d = load_half(block + q6k::kD);
  const uint8_t* ql = block + q6k::kQl;
  const uint8_t* qh = block + q6k::kQh;
  const int8_t* sc = reinterpret_cast<const int8_t*>(block + q6k::kScales);
  for (int j = 0; j < 8; ++j) {
    const int h = j / 4, k = j % 4;
    ab[2 * j] = d * sc[8 * h + 2 * k];
    ab[2 * j + 1] = d * sc[8 * h + 2 * k + 1];
    for (int i = 0; i < 32; ++i) {
      const int lo = (ql[64 * h + 32 * (k % 2) + i] >> (4 * (k / 2))) & 0xF;
      const int hi = (qh[32 * h + i] >> (2 * k)) & 3;
      q[32 * j + i] = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
  }
}

}  // namespace vkllm::qimpl
