// Internal to quant/: helpers shared by the CPU quantizers and the K-quant entry points that
// formats.cpp puts in the weight format table. Not part of the public API.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "quant/half.h"

namespace vkllm::qimpl {

constexpr int kQK = 32;    // elements per block of the legacy and IQ4_NL formats
constexpr int kQKK = 256;  // elements per K-quant super-block

// Little-endian field access on raw block bytes (GGUF is little-endian, so is every host vkllm
// targets).
inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) {
  std::memcpy(p, &v, sizeof v);
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, sizeof v);
}
inline float load_half(const uint8_t* p) {
  return fp16_to_fp32(load_u16(p));
}
inline void store_half(uint8_t* p, float f) {
  store_u16(p, fp32_to_fp16(f));
}

// ggml's nearest_int: round to nearest, ties to even, via the 1.5 * 2^23 trick. Valid for
// |f| <= 2^22 - 1, which every caller guarantees.
inline int nearest_int(float f) {
  const float v = f + 12582912.f;
  const int32_t i = std::bit_cast<int32_t>(v);
  return (i & 0x007fffff) - 0x00400000;
}

// K-quant reference quantizers and dequantizers (kquants.cpp); n a multiple of 256.
void quantize_q2_k(const float* x, uint8_t* out, int64_t n);
void dequantize_q2_k(const uint8_t* q, float* out, int64_t n);
void quantize_q3_k(const float* x, uint8_t* out, int64_t n);
void dequantize_q3_k(const uint8_t* q, float* out, int64_t n);
void quantize_q4_k(const float* x, uint8_t* out, int64_t n);
void dequantize_q4_k(const uint8_t* q, float* out, int64_t n);
void quantize_q5_k(const float* x, uint8_t* out, int64_t n);
void dequantize_q5_k(const uint8_t* q, float* out, int64_t n);
void quantize_q6_k(const float* x, uint8_t* out, int64_t n);
void dequantize_q6_k(const uint8_t* q, float* out, int64_t n);

// A GGUF block as blocks of 32 for the planar layout (quant/repack.h; one for the 32-element
// formats, eight for a K-quant super-block): block j's quants q[32 j + i] and two parameters
// ab[2 j], ab[2 j + 1] (Q2_K: four, ab[4 j .. 4 j + 3]), from which element 32 j + i is, exactly
// as the dequantizers compute it,
//   Q4_1, Q5_1, Q4_K, Q5_K  ab[2 j] * q - ab[2 j + 1]  (d, -m; d * scale, dmin * min)
//   Q6_K                    ab[2 j + i / 16] * q       (d * the scale of each half)
//   Q3_K                    ab[2 j + i / 16] * (q - 4) (d * the scale of each half)
//   Q2_K                    ab[4 j + 2 h] * q - ab[4 j + 2 h + 1], h = i / 16 (d * scale,
//                           dmin * min of each half)
//   Q5_0, IQ4_NL            ab[2 j] * q                (d, an fp16 value; ab[2 j + 1] = 0)
//   IQ4_XS                  ab[2 j] * q - ab[2 j + 1]  (d * (ls - 32) of the block; 0)
// with q 0..15 (Q4_1, Q4_K), 0..31 (Q5_1, Q5_K), -16..15 (Q5_0), -32..31 (Q6_K), 0..7 (Q3_K),
// 0..3 (Q2_K), IQ4_NL's table values (-127..113; also IQ4_XS).
void split_q4_1(const uint8_t* block, int8_t* q, float* ab);
void split_q5_0(const uint8_t* block, int8_t* q, float* ab);
void split_q5_1(const uint8_t* block, int8_t* q, float* ab);
void split_iq4_nl(const uint8_t* block, int8_t* q, float* ab);
void split_iq4_xs(const uint8_t* block, int8_t* q, float* ab);
void split_q4_k(const uint8_t* block, int8_t* q, float* ab);
void split_q5_k(const uint8_t* block, int8_t* q, float* ab);
void split_q6_k(const uint8_t* block, int8_t* q, float* ab);
void split_q3_k(const uint8_t* block, int8_t* q, float* ab);
void split_q2_k(const uint8_t* block, int8_t* q, float* ab);

}  // namespace vkllm::qimpl
