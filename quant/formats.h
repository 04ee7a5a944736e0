// Weight formats vkllm can run: one declarative descriptor per format, with CPU reference
// quantize/dequantize that are bit-compatible with GGUF/ggml block layouts.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "quant/types.h"

namespace vkllm {

// A weight format vkllm can run. Loaders, shader variants, the supports table and tests derive
// from this table, so adding a format touches this table and one GLSL header.
struct WeightFormat {
  GGMLType type;
  const char* name;      // "Q4_0" (same as type_name)
  const char* glsl;      // shader variant suffix, lower case: "f32", "q4_0", "q4_k", "iq4_nl", ...
  uint32_t block_size;   // elements per block (1 for F32/F16/BF16, 32, or 256 for K-quants)
  uint32_t block_bytes;  // bytes per block (equals types.h type_size)
  double max_rel_rmse;   // bound on rmse(x - dequantize(quantize(x))) / rms(x), Gaussian data
  // n must be a multiple of block_size. Deterministic reference quantizer (ggml's
  // quantize_row_*_ref logic, see formats.cpp / kquants.cpp for the few deviations).
  void (*quantize)(const float* x, uint8_t* out, int64_t n);
  // Exact ggml dequantize_row_* semantics.
  void (*dequantize)(const uint8_t* q, float* out, int64_t n);
};

// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS.
std::span<const WeightFormat> weight_formats();

// nullptr if vkllm cannot run `type`.
const WeightFormat* weight_format(GGMLType type);

// Case-insensitive "q4_0", "Q4_K", "f16", ...; nullptr if unknown.
const WeightFormat* weight_format_by_name(std::string_view name);

// Quantizes `rows` rows of `cols` floats each (row-major, contiguous). Throws
// std::invalid_argument naming the format and the problem if the type is not a weight format,
// cols is not a positive multiple of the block size, or rows is negative.
std::vector<uint8_t> quantize_rows(GGMLType type, const float* x, int64_t rows, int64_t cols);

// Dequantizes n elements stored in `q`. Throws std::invalid_argument if the type is not a weight
// format, n is not a multiple of the block size, or q holds fewer bytes than n elements need.
std::vector<float> dequantize_all(GGMLType type, std::span<const uint8_t> q, int64_t n);

}  // namespace vkllm
