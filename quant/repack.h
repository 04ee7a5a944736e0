// Load-time weight repacking: layouts the GPU kernels read faster than GGUF's blocks as stored.
// The file stays untouched; the loader writes the repacked bytes into the device buffer.
//
// Planar layout (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, F16, BF16, Q2_K..Q6_K) of a matrix
// of `rows` rows of `cols` elements, nb = cols / 32 blocks of 32 per row (a K-quant super-block of
// 256 is 8 of them). Each row is a sequence of 16-byte texels: per block QB / 16 of them,
// J = nb * QB / 16 per row, QB =
//   16  nibbles: Q4_0's quant bytes as in GGUF (element i in the low nibble of byte i, 16 + i in
//       its high nibble); Q4_1's, Q4_K's, Q3_K's (0..7) and Q2_K's (0..3) quants in that order
//   32  int8: Q8_0's quant bytes as in GGUF; Q5_0's (q - 16), Q5_1's and Q5_K's (0..31), Q6_K's
//       (q - 32) quants and IQ4_NL's and IQ4_XS's table values in that order
//   64  F16, BF16: the block's 32 halves
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
//           Q4_0, Q8_0, Q5_0, IQ4_NL: one texel, the fp16 scale d of row m in slot m % 8;
//           element i = q * d.
//           Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, IQ4_XS: four texels of f32, two parameters a, b per row
//           (quant/quant_impl.h split_*): texel (m % 8) / 4 holds a and texel 2 + (m % 8) / 4
//           holds b in slot m % 4. Element i of the block is a * q - b (Q4_1, Q5_1: d, -m; Q4_K,
//           Q5_K: d * scale, dmin * min; IQ4_XS: d * (ls - 32), 0) or (i < 16 ? a : b) * q (Q6_K:
//           the scales of its two halves), as GGUF's dequantizers compute it, so the products
//           are exact in f32.
//           Q3_K: as Q6_K, element i = (i < 16 ? a : b) * (q - 4).
//           Q2_K: eight texels, four parameters a0, b0, a1, b1 per row (parameter k in texel
//           2 k + (m % 8) / 4, slot m % 4): element i of half h = i / 16 is ah * q - bh (d *
//           scale, dmin * min of the half).
// Formats of one form share its kernels (planar_kernel()). Rows are padded (zero) to a multiple
// of lanes * max(lane_rows, 8) (lane_rows for F16 and BF16). The scale plane starts at
// scale_offset, the quant plane's size rounded up to `align`.
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

// Whether `type` has a planar layout (the formats above).
bool has_planar_layout(GGMLType type);

// Scale-plane texels per group of 8 rows and block: 0 (F16), 1 (fp16 scales), 4 (two f32
// parameters), 8 (four: Q2_K); quant-plane texels per block: 1 (nibbles), 2 (int8), 4 (F16).
uint32_t planar_scale_texels(GGMLType type);
uint32_t planar_quant_texels(GGMLType type);

// Whether the planar form of `type` takes more bytes than the file (a planar form per block of 32
// and row: its quant bytes and 2 bytes per scale-plane texel of its group; Q4_0, Q8_0, F16 and
// BF16 take the same).
bool planar_larger(GGMLType type);

// The suffix of the planar kernels (matvec_t_<suffix>, get_rows_planar_<suffix>) that read
// `type`: the format whose planar form it shares ("q8_0" for Q5_0 and IQ4_NL, "q4_k" for Q4_1,
// "q5_k" for Q5_1, else its own glsl name).
const char* planar_kernel(GGMLType type);

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
