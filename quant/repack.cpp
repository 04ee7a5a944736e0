#include "quant/repack.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace vkllm {

namespace {

// Quant bytes per 32-element block (the block minus its leading fp16 scale).
uint64_t quant_bytes_per_block(GGMLType type) {
  switch (type) {
    case GGMLType::Q4_0:
      return 16;
    case GGMLType::Q8_0:
      return 32;
    default:
      throw std::invalid_argument("no planar layout for " + type_name(type) +
                                  " (only Q4_0 and Q8_0)");
  }
}

uint64_t round_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

bool has_planar_layout(GGMLType type) {
  return type == GGMLType::Q4_0 || type == GGMLType::Q8_0;
}

PlanarShape planar_shape(GGMLType type, uint64_t rows, uint64_t cols, uint64_t align) {
  const uint64_t qb = quant_bytes_per_block(type);
  if (cols == 0 || cols % 32 != 0)
    throw std::invalid_argument(type_name(type) + " planar layout: row length " +
                                std::to_string(cols) + " is not a positive multiple of 32");
  if (align < 16 || (align & (align - 1)) != 0)
    throw std::invalid_argument("planar layout: alignment " + std::to_string(align) +
                                " is not a power of two >= 16");
  const uint64_t blocks = rows * (cols / 32);
  PlanarShape s;
  s.quant_bytes = blocks * qb;
  s.scale_offset = round_up(s.quant_bytes, align);
  s.scale_bytes = (rows + 7) / 8 * (cols / 32) * 16;
  s.total_bytes = round_up(s.scale_offset + s.scale_bytes, 16);
  return s;
}

void repack_planar(GGMLType type, std::span<const uint8_t> src, uint64_t rows, uint64_t cols,
                   uint64_t align, std::span<uint8_t> dst) {
  const PlanarShape s = planar_shape(type, rows, cols, align);
  const uint64_t qb = quant_bytes_per_block(type), block = qb + 2;
  const uint64_t blocks = rows * (cols / 32);
  if (src.size() != blocks * block || dst.size() != s.total_bytes)
    throw std::invalid_argument(type_name(type) + " planar repack: " + std::to_string(src.size()) +
                                " source bytes and " + std::to_string(dst.size()) +
                                " destination bytes for a " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " matrix");
  const uint64_t nb = cols / 32;
  uint8_t* quants = dst.data();
  uint8_t* scales = dst.data() + s.scale_offset;
  std::memset(dst.data() + s.quant_bytes, 0, s.total_bytes - s.quant_bytes);
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t m = i / nb, b = i % nb;
    const uint8_t* blk = src.data() + i * block;
    std::memcpy(scales + ((m / 8) * nb + b) * 16 + (m % 8) * 2, blk, 2);
    std::memcpy(quants + i * qb, blk + 2, qb);
  }
}

}  // namespace vkllm
