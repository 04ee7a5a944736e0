#include "quant/types.h"

#include <fmt/format.h>

#include <array>

namespace vkllm {

namespace {

constexpr uint32_t kQK = 32;    // block size of the simple quant formats
constexpr uint32_t kQKK = 256;  // super-block size of the K and IQ formats

constexpr TypeInfo kTypes[] = {
    {GGMLType::F32, "F32", 1, 4},
    {GGMLType::F16, "F16", 1, 2},
    {GGMLType::Q4_0, "Q4_0", kQK, 2 + kQK / 2},
    {GGMLType::Q4_1, "Q4_1", kQK, 4 + kQK / 2},
    {GGMLType::Q5_0, "Q5_0", kQK, 2 + 4 + kQK / 2},
    {GGMLType::Q5_1, "Q5_1", kQK, 4 + 4 + kQK / 2},
    {GGMLType::Q8_0, "Q8_0", kQK, 2 + kQK},
    {GGMLType::Q8_1, "Q8_1", kQK, 4 + kQK},
    {GGMLType::Q2_K, "Q2_K", kQKK, kQKK / 16 + kQKK / 4 + 4},
    {GGMLType::Q3_K, "Q3_K", kQKK, kQKK / 8 + kQKK / 4 + 12 + 2},
    {GGMLType::Q4_K, "Q4_K", kQKK, 4 + 12 + kQKK / 2},
    {GGMLType::Q5_K, "Q5_K", kQKK, 4 + 12 + kQKK / 8 + kQKK / 2},
    {GGMLType::Q6_K, "Q6_K", kQKK, kQKK / 2 + kQKK / 4 + kQKK / 16 + 2},
    {GGMLType::Q8_K, "Q8_K", kQKK, 4 + kQKK + kQKK / 16 * 2},
    {GGMLType::IQ2_XXS, "IQ2_XXS", kQKK, 2 + kQKK / 4},
    {GGMLType::IQ2_XS, "IQ2_XS", kQKK, 2 + kQKK / 4 + kQKK / 32},
    {GGMLType::IQ3_XXS, "IQ3_XXS", kQKK, 2 + 3 * kQKK / 8},
    {GGMLType::IQ1_S, "IQ1_S", kQKK, 2 + kQKK / 8 + kQKK / 16},
    {GGMLType::IQ4_NL, "IQ4_NL", kQK, 2 + kQK / 2},
    {GGMLType::IQ3_S, "IQ3_S", kQKK, 2 + kQKK / 4 + kQKK / 32 + kQKK / 8 + kQKK / 64},
    {GGMLType::IQ2_S, "IQ2_S", kQKK, 2 + kQKK / 4 + kQKK / 32 + kQKK / 32},
    {GGMLType::IQ4_XS, "IQ4_XS", kQKK, 2 + 2 + kQKK / 64 + kQKK / 2},
    {GGMLType::I8, "I8", 1, 1},
    {GGMLType::I16, "I16", 1, 2},
    {GGMLType::I32, "I32", 1, 4},
    {GGMLType::I64, "I64", 1, 8},
    {GGMLType::F64, "F64", 1, 8},
    {GGMLType::IQ1_M, "IQ1_M", kQKK, kQKK / 8 + kQKK / 16 + kQKK / 32},
    {GGMLType::BF16, "BF16", 1, 2},
    {GGMLType::TQ1_0, "TQ1_0", kQKK, (kQKK - 4 * kQKK / 64) / 5 + kQKK / 64 + 2},
    {GGMLType::TQ2_0, "TQ2_0", kQKK, kQKK / 4 + 2},
    {GGMLType::MXFP4, "MXFP4", kQK, 1 + kQK / 2},
};

// Sizes as fixed by the file format; a typo in the formulas above must not go unnoticed.
static_assert(kTypes[2].type_size == 18 && kTypes[3].type_size == 20);
static_assert(kTypes[4].type_size == 22 && kTypes[5].type_size == 24);
static_assert(kTypes[6].type_size == 34 && kTypes[7].type_size == 36);
static_assert(kTypes[8].type_size == 84 && kTypes[9].type_size == 110);
static_assert(kTypes[10].type_size == 144 && kTypes[11].type_size == 176);
static_assert(kTypes[12].type_size == 210 && kTypes[13].type_size == 292);
static_assert(kTypes[14].type_size == 66 && kTypes[15].type_size == 74);
static_assert(kTypes[16].type_size == 98 && kTypes[17].type_size == 50);
static_assert(kTypes[18].type_size == 18 && kTypes[19].type_size == 110);
static_assert(kTypes[20].type_size == 82 && kTypes[21].type_size == 136);
static_assert(kTypes[27].type_size == 56);
static_assert(kTypes[29].type_size == 54 && kTypes[30].type_size == 66);
static_assert(kTypes[31].type_size == 17);

constexpr uint32_t kMaxId = 64;

constexpr std::array<int8_t, kMaxId> make_index() {
  std::array<int8_t, kMaxId> index{};
  for (auto& i : index) i = -1;
  for (size_t i = 0; i < std::size(kTypes); ++i) {
    index[static_cast<uint32_t>(kTypes[i].type)] = static_cast<int8_t>(i);
  }
  return index;
}

constexpr std::array<int8_t, kMaxId> kIndex = make_index();

}  // namespace

std::span<const TypeInfo> all_type_infos() {
  return kTypes;
}

const TypeInfo* type_info(uint32_t raw) {
  if (raw >= kMaxId || kIndex[raw] < 0) return nullptr;
  return &kTypes[kIndex[raw]];
}

std::string type_name(GGMLType type) {
  const TypeInfo* info = type_info(type);
  if (!info) return fmt::format("unknown({})", static_cast<uint32_t>(type));
  return info->name;
}

std::optional<uint64_t> row_bytes(GGMLType type, uint64_t ne0) {
  const TypeInfo* info = type_info(type);
  if (!info || ne0 % info->block_size != 0) return std::nullopt;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(ne0 / info->block_size, uint64_t{info->type_size}, &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

}  // namespace vkllm
