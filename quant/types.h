// GGML tensor element types as stored in GGUF files, with one descriptor table for all of them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace vkllm {

// Type ids as written in GGUF tensor infos (ggml's enum ggml_type). Gaps are ids that ggml
// retired (4, 5: Q4_2/Q4_3; 31..33 and 36..38: repacked layouts never valid in files).
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// One row of the type table. A block of `block_size` consecutive elements along ne[0] is stored
// in `type_size` bytes. (CPU quantize/dequantize entry points will be added to this table.)
struct TypeInfo {
  GGMLType type;
  const char* name;
  uint32_t block_size;
  uint32_t type_size;
};

// All known types, in id order.
std::span<const TypeInfo> all_type_infos();

// Descriptor for a raw type id, or nullptr if the id is not a known type.
const TypeInfo* type_info(uint32_t raw);
inline const TypeInfo* type_info(GGMLType type) {
  return type_info(static_cast<uint32_t>(type));
}

// "Q4_K", ...; unknown ids give "unknown(<id>)".
std::string type_name(GGMLType type);

// Bytes of one row of `ne0` elements; nullopt if the type is unknown, ne0 is not a multiple of
// the block size, or the size overflows.
std::optional<uint64_t> row_bytes(GGMLType type, uint64_t ne0);

}  // namespace vkllm
