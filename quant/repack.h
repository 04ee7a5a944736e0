// Load-time weight repacking: layouts the GPU kernels read faster than GGUF's blocks as stored.
// The file stays untouched; the loader writes the repacked bytes into the device buffer.
//
// Planar layout (Q4_0, Q8_0, F16) of a matrix of `rows` rows of `cols` elements, nb = cols / 32
// blocks per row. Each row is a sequence of 16-byte texels: per block QB / 16 of them (QB = the
// quant bytes of a block: 16 for Q4_0 and 32 for Q8_0, exactly as in the GGUF block, so the
// nibble/byte order is unchanged; 64 for F16, the block's 32 halves), J = nb * QB / 16 per row.
// Two planes:
//   quants  texel t of row m at planar_quant_texel(): the rows are cut into tiles of
//           TR = lanes * lane_rows rows, and a tile stores its rows' texel 0, then texel 1, ...;
//           within one texel index, lane l's row r (tile row l * lane_rows + r) sits at
//           r * lanes + l. A kernel whose `lanes` invocations each own `lane_rows` consecutive
//           rows therefore reads, for each of its rows r, `lanes` neighbouring texels at once and
//           walks through the tile front to back (shaders/matvec_t.comp, graph/ops_matmul.cpp):
//           CPU drivers turn a texel fetch into one load per lane, and the hardware prefetchers
//           follow one stream instead of TR.
//   scales  (Q4_0, Q8_0) the fp16 scale d of block b of row m in slot m % 8 of the texel of its
//           group of 8 rows, g = m / 8, at planar_scale_texel(): groups are interleaved `lanes`
//           at a time the same way, so with lane_rows = 8 each invocation reads its rows' scales
//           with one fetch and the lanes' fetches are neighbours.
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

// Whether `type` has a planar layout (Q4_0, Q8_0 and F16).
bool has_planar_layout(GGMLType type);

// Sizes of the planar layout of a rows x cols matrix; cols a positive multiple of 32. Throws
// std::invalid_argument for a type without a planar layout, a bad shape or bad parameters.
PlanarShape planar_shape(GGMLType type, uint64_t rows, uint64_t cols, const PlanarParams& p);

// Texel indices in the planes (the kernels compute the same): texel t of row m in the quant plane
// (rows of j_row texels), and the scale texel of block b (of nb per row) of row m.
uint64_t planar_quant_texel(const PlanarParams& p, uint64_t m, uint64_t t, uint64_t j_row);
uint64_t planar_scale_texel(const PlanarParams& p, uint64_t m, uint64_t b, uint64_t nb);

// Writes the planar layout of the GGUF matrix `src` (rows x cols of `type`) into `dst`
// (planar_shape(...).total_bytes; padding bytes are zeroed). Throws std::invalid_argument if the
// sizes do not match.
void repack_planar(GGMLType type, std::span<const uint8_t> src, uint64_t rows, uint64_t cols,
                   const PlanarParams& p, std::span<uint8_t> dst);

}  // namespace vkllm
