// Load-time weight repacking: layouts the GPU kernels read faster than GGUF's blocks as stored.
// The file stays untouched; the loader writes the repacked bytes into the device buffer.
//
// Planar layout (Q4_0, Q8_0): a matrix of `rows` rows of `cols` elements, nb = cols / 32 blocks
// per row, is stored as two planes:
//   quants  the quant bytes of block (m, b) at (m * nb + b) * QB (QB = 16 for Q4_0, 32 for Q8_0,
//           bytes exactly as in the GGUF block, so nibble/byte order is unchanged)
//   scales  the block's fp16 scale d at scale_offset + 16 ((m / 8) * nb + b) + 2 (m % 8): the
//           scales of block b of 8 consecutive rows share one 16-byte texel (rows past the
//           matrix, up to a multiple of 8, are zero)
// so every quant block starts on a 16-byte boundary and can be read as whole 128-bit texels, and
// a kernel working on 8 rows reads their 8 scales with one fetch (shaders/matvec_t.comp).
// scale_offset is the quant plane's size rounded up to `align`.
#pragma once
#include <cstdint>
#include <span>

#include "quant/types.h"

namespace vkllm {

enum class WeightLayout {
  AsStored,  // the GGUF bytes as they are in the file
  Planar,    // quants and scales in separate planes (above)
};

struct PlanarShape {
  uint64_t quant_bytes;   // bytes of the quant plane
  uint64_t scale_offset;  // start of the scale plane (a multiple of align)
  uint64_t scale_bytes;   // bytes of the scale plane
  uint64_t total_bytes;   // scale_offset + scale_bytes rounded up to 16
};

// Whether `type` has a planar layout (Q4_0 and Q8_0).
bool has_planar_layout(GGMLType type);

// Sizes of the planar layout of a rows x cols matrix; cols a positive multiple of 32; align a
// power of two (the device's texel-buffer offset alignment, at least 16). Throws
// std::invalid_argument for a type without a planar layout or a bad shape.
PlanarShape planar_shape(GGMLType type, uint64_t rows, uint64_t cols, uint64_t align);

// Writes the planar layout of the GGUF matrix `src` (rows x cols of `type`) into `dst`
// (planar_shape(...).total_bytes; padding bytes are zeroed). Throws std::invalid_argument if the
// sizes do not match.
void repack_planar(GGMLType type, std::span<const uint8_t> src, uint64_t rows, uint64_t cols,
                   uint64_t align, std::span<uint8_t> dst);

}  // namespace vkllm
