#include "quant/repack.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "quant/formats.h"
#include "quant/quant_impl.h"

namespace vkllm {

namespace {

// The planar form of a format (quant/repack.h).
struct BlockBytes {
  uint64_t scale;   // Q4_0, Q8_0: the leading fp16 scale bytes of a GGUF block
  uint64_t quant;   // planar quant bytes per block of 32 (16 with a split: nibbles, 32: int8)
  uint64_t texels;  // scale-plane texels per group of 8 rows and block (2 per f32 parameter)
  uint64_t elems;   // elements per GGUF block (32, or 256 for K-quants)
  // quant_impl.h split_*: the quants and parameters of each block of 32; nullptr: the GGUF
  // block's bytes are copied (Q4_0, Q8_0, F16)
  void (*split)(const uint8_t*, int8_t*, float*);
  const char* kernel;  // the planar kernels' suffix: the format whose planar form this is
};

std::optional<BlockBytes> planar_form(GGMLType type) {
  using namespace qimpl;
  switch (type) {
    case GGMLType::Q4_0:
      return BlockBytes{2, 16, 1, 32, nullptr, "q4_0"};
    case GGMLType::Q8_0:
      return BlockBytes{2, 32, 1, 32, nullptr, "q8_0"};
    case GGMLType::F16:
      return BlockBytes{0, 64, 0, 32, nullptr, "f16"};
    case GGMLType::BF16:
      return BlockBytes{0, 64, 0, 32, nullptr, "bf16"};
    // Q8_0's form: int8 values and the fp16 scale.
    case GGMLType::Q5_0:
      return BlockBytes{0, 32, 1, 32, split_q5_0, "q8_0"};
    case GGMLType::IQ4_NL:
      return BlockBytes{0, 32, 1, 32, split_iq4_nl, "q8_0"};
    // Q5_K's form (int8 values, a * q - b) with b = 0: the block scale d * (ls - 32) is no fp16.
    case GGMLType::IQ4_XS:
      return BlockBytes{0, 32, 4, 256, split_iq4_xs, "q5_k"};
    // Q4_K's and Q5_K's forms: quants with two f32 parameters, a * q - b.
    case GGMLType::Q4_1:
      return BlockBytes{0, 16, 4, 32, split_q4_1, "q4_k"};
    case GGMLType::Q4_K:
      return BlockBytes{0, 16, 4, 256, split_q4_k, "q4_k"};
    case GGMLType::Q5_1:
      return BlockBytes{0, 32, 4, 32, split_q5_1, "q5_k"};
    case GGMLType::Q5_K:
      return BlockBytes{0, 32, 4, 256, split_q5_k, "q5_k"};
    case GGMLType::Q6_K:
      return BlockBytes{0, 32, 4, 256, split_q6_k, "q6_k"};
    // Nibbles with a scale per half (Q3_K: q - 4), or a scale and a min per half (Q2_K).
    case GGMLType::Q3_K:
      return BlockBytes{0, 16, 4, 256, split_q3_k, "q3_k"};
    case GGMLType::Q2_K:
      return BlockBytes{0, 16, 8, 256, split_q2_k, "q2_k"};
    default:
      return std::nullopt;
  }
}

BlockBytes block_bytes(GGMLType type) {
  if (const auto f = planar_form(type)) return *f;
  throw std::invalid_argument("no planar layout for " + type_name(type) +
                              " (only Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, F16, "
                              "BF16 and Q2_K to Q6_K)");
}

bool pow2(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

uint64_t round_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

bool has_planar_layout(GGMLType type) {
  return planar_form(type).has_value();
}

uint32_t planar_scale_texels(GGMLType type) {
  return static_cast<uint32_t>(block_bytes(type).texels);
}

uint32_t planar_quant_texels(GGMLType type) {
  return static_cast<uint32_t>(block_bytes(type).quant / 16);
}

bool planar_larger(GGMLType type) {
  const BlockBytes bb = block_bytes(type);
  const WeightFormat& wf = *weight_format(type);
  return (bb.quant + 2 * bb.texels) * wf.block_size > uint64_t{32} * wf.block_bytes;
}

const char* planar_kernel(GGMLType type) {
  return block_bytes(type).kernel;
}

PlanarShape planar_shape(GGMLType type, uint64_t rows, uint64_t cols, const PlanarParams& p) {
  const BlockBytes bb = block_bytes(type);
  if (cols == 0 || cols % bb.elems != 0)
    throw std::invalid_argument(type_name(type) + " planar layout: row length " +
                                std::to_string(cols) + " is not a positive multiple of " +
                                std::to_string(bb.elems));
  if (p.align < 16 || !pow2(p.align))
    throw std::invalid_argument("planar layout: alignment " + std::to_string(p.align) +
                                " is not a power of two >= 16");
  if (!pow2(p.lanes) || !pow2(p.lane_rows))
    throw std::invalid_argument("planar layout: lanes " + std::to_string(p.lanes) +
                                " and rows per lane " + std::to_string(p.lane_rows) +
                                " must be powers of two");
  const uint64_t nb = cols / 32;
  const uint64_t tile = uint64_t{p.lanes} * (bb.texels ? std::max(p.lane_rows, 8u) : p.lane_rows);
  PlanarShape s;
  s.rows = round_up(rows, tile);
  s.quant_bytes = s.rows * nb * bb.quant;
  s.scale_offset = round_up(s.quant_bytes, p.align);
  s.scale_bytes = s.rows / 8 * nb * 16 * bb.texels;
  s.total_bytes = round_up(s.scale_offset + s.scale_bytes, 16);
  return s;
}

uint64_t planar_quant_texel(const PlanarParams& p, uint64_t m, uint64_t t, uint64_t j_row) {
  const uint64_t tr = uint64_t{p.lanes} * p.lane_rows, i = m % tr;
  return ((m / tr) * j_row + t) * tr + (i % p.lane_rows) * p.lanes + i / p.lane_rows;
}

uint64_t planar_scale_texel(const PlanarParams& p, uint64_t m, uint64_t b, uint64_t nb,
                            uint64_t texels, uint64_t k) {
  const uint64_t g = m / 8;
  return (((g / p.lanes) * nb + b) * texels + k) * p.lanes + g % p.lanes;
}

void repack_planar(GGMLType type, std::span<const uint8_t> src, uint64_t rows, uint64_t cols,
                   const PlanarParams& p, std::span<uint8_t> dst) {
  const PlanarShape s = planar_shape(type, rows, cols, p);
  const BlockBytes bb = block_bytes(type);
  const uint64_t nb = cols / 32, per_block = bb.quant / 16, j_row = nb * per_block;
  // GGUF bytes per bb.elems elements (F16's "block" of 32 is 32 elements of one)
  const WeightFormat& wf = *weight_format(type);
  const uint64_t gguf_block = bb.elems / wf.block_size * wf.block_bytes, n_gguf = cols / bb.elems;
  if (src.size() != rows * n_gguf * gguf_block || dst.size() != s.total_bytes)
    throw std::invalid_argument(type_name(type) + " planar repack: " + std::to_string(src.size()) +
                                " source bytes and " + std::to_string(dst.size()) +
                                " destination bytes for a " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " matrix");
  std::memset(dst.data(), 0, dst.size());
  uint8_t* quants = dst.data();
  uint8_t* scales = dst.data() + s.scale_offset;
  auto quant_texel = [&](uint64_t m, uint64_t t) {
    return quants + planar_quant_texel(p, m, t, j_row) * 16;
  };
  // Row by row: each row's texels land TR texels apart, and a tile's rows (at most a few tens of
  // KiB) stay in the cache while it is written.
  for (uint64_t m = 0; m < rows; ++m) {
    for (uint64_t gb = 0; gb < n_gguf; ++gb) {
      const uint8_t* blk = src.data() + (m * n_gguf + gb) * gguf_block;
      if (!bb.split) {
        if (bb.scale)
          std::memcpy(scales + planar_scale_texel(p, m, gb, nb) * 16 + (m % 8) * 2, blk, 2);
        for (uint64_t h = 0; h < per_block; ++h)
          std::memcpy(quant_texel(m, gb * per_block + h), blk + bb.scale + h * 16, 16);
        continue;
      }
      // Blocks of 32 from their quants and parameters (eight per K-quant super-block).
      int8_t q[256];
      float ab[32];
      bb.split(blk, q, ab);
      const uint64_t n_params = bb.texels / 2;  // f32 parameters per block of 32
      for (uint64_t j = 0; j < bb.elems / 32; ++j) {
        const uint64_t b = gb * (bb.elems / 32) + j;
        const int8_t* qj = q + 32 * j;
        if (bb.quant == 16) {  // nibbles
          uint8_t* t = quant_texel(m, b);
          for (int i = 0; i < 16; ++i) t[i] = static_cast<uint8_t>(qj[i] | (qj[16 + i] << 4));
        } else {
          for (uint64_t h = 0; h < 2; ++h) std::memcpy(quant_texel(m, 2 * b + h), qj + 16 * h, 16);
        }
        if (bb.texels == 1) {  // the fp16 scale (an fp16 value: exact)
          const uint16_t d = fp32_to_fp16(ab[2 * j]);
          std::memcpy(scales + planar_scale_texel(p, m, b, nb) * 16 + (m % 8) * 2, &d, 2);
          continue;
        }
        for (uint64_t k = 0; k < n_params; ++k)
          std::memcpy(scales +
                          planar_scale_texel(p, m, b, nb, bb.texels, 2 * k + (m % 8) / 4) * 16 +
                          (m % 4) * 4,
                      &ab[n_params * j + k], 4);
      }
    }
  }
}

}  // namespace vkllm
