#include "quant/repack.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vkllm {

namespace {

struct BlockBytes {
  uint64_t scale;  // leading fp16 scale bytes of a GGUF block (0 for F16)
  uint64_t quant;  // the bytes after it: a multiple of 16
};

BlockBytes block_bytes(GGMLType type) {
  switch (type) {
    case GGMLType::Q4_0:
      return {2, 16};
    case GGMLType::Q8_0:
      return {2, 32};
    case GGMLType::F16:
      return {0, 64};
    default:
      throw std::invalid_argument("no planar layout for " + type_name(type) +
                                  " (only Q4_0, Q8_0 and F16)");
  }
}

bool pow2(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

uint64_t round_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

bool has_planar_layout(GGMLType type) {
  return type == GGMLType::Q4_0 || type == GGMLType::Q8_0 || type == GGMLType::F16;
}

PlanarShape planar_shape(GGMLType type, uint64_t rows, uint64_t cols, const PlanarParams& p) {
  const BlockBytes bb = block_bytes(type);
  if (cols == 0 || cols % 32 != 0)
    throw std::invalid_argument(type_name(type) + " planar layout: row length " +
                                std::to_string(cols) + " is not a positive multiple of 32");
  if (p.align < 16 || !pow2(p.align))
    throw std::invalid_argument("planar layout: alignment " + std::to_string(p.align) +
                                " is not a power of two >= 16");
  if (!pow2(p.lanes) || !pow2(p.lane_rows))
    throw std::invalid_argument("planar layout: lanes " + std::to_string(p.lanes) +
                                " and rows per lane " + std::to_string(p.lane_rows) +
                                " must be powers of two");
  const uint64_t nb = cols / 32;
  const uint64_t tile = uint64_t{p.lanes} * (bb.scale ? std::max(p.lane_rows, 8u) : p.lane_rows);
  PlanarShape s;
  s.rows = round_up(rows, tile);
  s.quant_bytes = s.rows * nb * bb.quant;
  s.scale_offset = round_up(s.quant_bytes, p.align);
  s.scale_bytes = bb.scale ? s.rows / 8 * nb * 16 : 0;
  s.total_bytes = round_up(s.scale_offset + s.scale_bytes, 16);
  return s;
}

uint64_t planar_quant_texel(const PlanarParams& p, uint64_t m, uint64_t t, uint64_t j_row) {
  const uint64_t tr = uint64_t{p.lanes} * p.lane_rows, i = m % tr;
  return ((m / tr) * j_row + t) * tr + (i % p.lane_rows) * p.lanes + i / p.lane_rows;
}

uint64_t planar_scale_texel(const PlanarParams& p, uint64_t m, uint64_t b, uint64_t nb) {
  const uint64_t g = m / 8;
  return ((g / p.lanes) * nb + b) * p.lanes + g % p.lanes;
}

void repack_planar(GGMLType type, std::span<const uint8_t> src, uint64_t rows, uint64_t cols,
                   const PlanarParams& p, std::span<uint8_t> dst) {
  const PlanarShape s = planar_shape(type, rows, cols, p);
  const BlockBytes bb = block_bytes(type);
  const uint64_t nb = cols / 32, block = bb.scale + bb.quant, per_block = bb.quant / 16;
  const uint64_t j_row = nb * per_block;
  if (src.size() != rows * nb * block || dst.size() != s.total_bytes)
    throw std::invalid_argument(type_name(type) + " planar repack: " + std::to_string(src.size()) +
                                " source bytes and " + std::to_string(dst.size()) +
                                " destination bytes for a " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " matrix");
  std::memset(dst.data(), 0, dst.size());
  uint8_t* quants = dst.data();
  uint8_t* scales = dst.data() + s.scale_offset;
  // Row by row: each row's texels land TR texels apart, and a tile's rows (at most a few tens of
  // KiB) stay in the cache while it is written.
  for (uint64_t m = 0; m < rows; ++m) {
    for (uint64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = src.data() + (m * nb + b) * block;
      if (bb.scale)
        std::memcpy(scales + planar_scale_texel(p, m, b, nb) * 16 + (m % 8) * 2, blk, 2);
      for (uint64_t h = 0; h < per_block; ++h)
        std::memcpy(quants + planar_quant_texel(p, m, b * per_block + h, j_row) * 16,
                    blk + bb.scale + h * 16, 16);
    }
  }
}

}  // namespace vkllm
