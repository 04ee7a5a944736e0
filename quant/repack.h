// Load-time weight repacking: layouts the GPU kernels read faster than GGUF's blocks as stored.
// The file stays untouched; the loader writes the repacked bytes into the device buffer.
//
// Planar layout (Q4_0, Q8_0, F16, Q4_K, Q5_K, Q6_K) of a matrix of `rows` rows of `cols` elements,
// nb = cols / 32 blocks of 32 per row (a K-quant super-block of 256 is 8 of them). Each row is a
// sequence of 16-byte texels: per block QB / 16 of them, J = nb * QB / 16 per row, QB =
//   Q4_0  16: the block's quant bytes as in GGUF (element i in the low nibble of byte i, 16 + i
//         in its high nibble)
//   Q8_0  32: the block's quant bytes as in GGUF (int8)
//   F16   64: the block's 32 halves
//   Q4_K  16: the sub-block's 32 nibbles in Q4_0's order (GGUF keeps two sub-blocks per 32 bytes)
//   Q5_K  32: the sub-block's 32 quants (0..31) as int8 in Q8_0's order
//   Q6_K  32: the sub-block's 32 quants minus 32, as int8 in Q8_0's order
// Two planes:
//   quants  texel t of row m at planar_quant_texel(): the rows are cut into tiles of
//           TR = lanes * lane_rows rows, and a tile stores its rows' texel 0, then texel 1, ...;
//           within one texel index, lane l's row r (tile row l * lane_rows + r) sits at
//           r * lanes + l. A kernel whose `lanes` invocations each own `lane_rows` consecutive
//           rows therefore reads, for each of its rows r, `lanes` neighbouring texels at once and
//           walks through the tile front to back (shaders/matvec_t.comp, graph/ops_matmul.cpp):
//           CPU drivers turn a texel fetch into one load per lane, and the hardware prefetchers
//           follow one stream instead of TR.
//   scales  per group of 8 rows, g = m / 8, and block b, planar_scale_texels() texels at
//           planar_scale_texel(..., k) for k < that count; groups are interleaved `lanes` at a
//           time, so with lane_rows = 8 each invocation reads its rows' scales with one fetch per
//           k and the lanes' fetches are neighbours.
//           Q4_0, Q8_0: one texel, the fp16 scale d of row m in slot m % 8.
//           Q4_K, Q5_K, Q6_K: four texels of f32, two parameters a, b per row
//           (quant/quant_impl.h split_q4_k ...): texel (m % 8) / 4 holds a and texel
//           2 + (m % 8) / 4 holds b in slot m % 4. Element i of the block is a * q - b (Q4_K,
//           Q5_K: d * scale, dmin * min) or (i < 16 ? a : b) * q (Q6_K: the scales of its two
//           halves), as GGUF's dequantizers
//           compute it, so the products are exact in f32.
// Rows are padded (zero) to a multiple of lanes * max(lane_rows, 8) (lane_rows for F16). The scale
// plane starts at scale_offset, the quant plane's size rounded up to `align`.
#pragma once
#include <cstdint>
#include <span>

#include "quant/types.h"

namespace vkllm {

enum class WeightLayout {
  AsStored,  // the GGUF bytes as they are in the file
  Planar,    // quants and scales in separate, row-interleaved planes (above)
};

struct PlanarParams {
  uint64_t align = 16;     // scale plane alignment: a power of two >= 16
  uint32_t lanes = 8;      // invocations sharing a tile: a power of two
  uint32_t lane_rows = 8;  // consecutive rows per lane: a power of two
};

struct PlanarShape {
  uint64_t rows;          // rows padded to whole tiles
  uint64_t quant_bytes;   // bytes of the quant plane
  uint64_t scale_offset;  // start of the scale plane (a multiple of align)
  uint64_t scale_bytes;   // bytes of the scale plane (0 for F16)
  uint64_t total_bytes;   // scale_offset + scale_bytes rounded up to 16
};

// Whether `type` has a planar layout (Q4_0, Q8_0, F16, Q4_K, Q5_K and Q6_K).
bool has_planar_layout(GGMLType type);

// Scale-plane texels per group of 8 rows and block: 1 (Q4_0, Q8_0), 4 (K-quants), 0 (F16).
uint32_t planar_scale_texels(GGMLType type);

// Sizes of the planar layout of a rows x cols matrix; cols a positive multiple of the type's
// block (32, 256 for K-quants). Throws std::invalid_argument for a type without a planar layout,
// a bad shape or bad parameters.
PlanarShape planar_shape(GGMLType type, uint64_t rows, uint64_t cols, const PlanarParams& p);

// Texel indices in the planes (the kernels compute the same): texel t of row m in the quant plane
// (rows of j_row texels), and scale texel k (of `texels` per group and block) of block b (of nb
// per row) of row m.
uint64_t planar_quant_texel(const PlanarParams& p, uint64_t m, uint64_t t, uint64_t j_row);
uint64_t planar_scale_texel(const PlanarParams& p, uint64_t m, uint64_t b, uint64_t nb,
                            uint64_t texels = 1, uint64_t k = 0);

// Writes the planar layout of the GGUF matrix `src` (rows x cols of `type`) into `dst`
// (planar_shape(...).total_bytes; padding bytes are zeroed). Throws std::invalid_argument if the
// sizes do not match.
void repack_planar(GGMLType type, std::span<const uint8_t> src, uint64_t rows, uint64_t cols,
                   const PlanarParams& p, std::span<uint8_t> dst);

}  // namespace vkllm
