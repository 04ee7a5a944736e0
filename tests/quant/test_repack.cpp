// quant/repack.h: the planar layout of Q4_0 and Q8_0 keeps every block's quant bytes and scale,
// each plane where planar_shape() says, with zeroed padding.
#include <doctest/doctest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "quant/formats.h"
#include "quant/repack.h"

using namespace vkllm;

namespace {

std::vector<float> ramp(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = float((i * 37) % 101) / 50.0f - 1.0f + float(i % 7) * 0.1f;
  return x;
}

}  // namespace

TEST_CASE("repack: planar Q4_0 and Q8_0 hold each block's quants and scale") {
  for (GGMLType type : {GGMLType::Q4_0, GGMLType::Q8_0}) {
    const uint64_t qb = type == GGMLType::Q4_0 ? 16 : 32;
    for (uint64_t rows : {1u, 3u, 17u}) {
      for (uint64_t cols : {32u, 96u}) {
        const auto x = ramp(rows * cols);
        const auto gguf = quantize_rows(type, x.data(), int64_t(rows), int64_t(cols));
        for (uint64_t align : {16u, 256u}) {
          const PlanarShape s = planar_shape(type, rows, cols, align);
          const uint64_t blocks = rows * cols / 32;
          CHECK(s.quant_bytes == blocks * qb);
          CHECK(s.scale_offset % align == 0);
          CHECK(s.scale_offset >= s.quant_bytes);
          CHECK(s.scale_bytes == (rows + 7) / 8 * (cols / 32) * 16);
          CHECK(s.total_bytes % 16 == 0);
          CHECK(s.total_bytes >= s.scale_offset + s.scale_bytes);
          std::vector<uint8_t> out(s.total_bytes, 0xAB);
          repack_planar(type, gguf, rows, cols, align, out);
          const uint64_t nb = cols / 32;
          std::vector<bool> scale_byte_used(s.scale_bytes, false);
          for (uint64_t b = 0; b < blocks; ++b) {
            const uint8_t* src = gguf.data() + b * (qb + 2);
            const uint64_t m = b / nb, j = b % nb;
            const uint64_t at = ((m / 8) * nb + j) * 16 + (m % 8) * 2;
            CHECK(std::memcmp(out.data() + s.scale_offset + at, src, 2) == 0);
            scale_byte_used[at] = scale_byte_used[at + 1] = true;
            CHECK(std::memcmp(out.data() + b * qb, src + 2, qb) == 0);
          }
          for (uint64_t i = s.quant_bytes; i < s.scale_offset; ++i) CHECK(out[i] == 0);
          // Scales of rows past the matrix (up to a multiple of 8) and the tail are zero.
          for (uint64_t i = 0; i < s.scale_bytes; ++i)
            if (!scale_byte_used[i]) CHECK(out[s.scale_offset + i] == 0);
          for (uint64_t i = s.scale_offset + s.scale_bytes; i < s.total_bytes; ++i)
            CHECK(out[i] == 0);
        }
      }
    }
  }
}

TEST_CASE("repack: bad types, shapes and sizes are refused") {
  CHECK(has_planar_layout(GGMLType::Q4_0));
  CHECK(has_planar_layout(GGMLType::Q8_0));
  CHECK_FALSE(has_planar_layout(GGMLType::Q4_K));
  CHECK_FALSE(has_planar_layout(GGMLType::F16));
  CHECK_THROWS_WITH_AS(planar_shape(GGMLType::Q4_K, 1, 256, 16), doctest::Contains("Q4_K"),
                       std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 48, 16), std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 0, 16), std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 32, 24), std::invalid_argument);
  std::vector<uint8_t> src(18), dst(planar_shape(GGMLType::Q4_0, 1, 32, 16).total_bytes);
  CHECK_NOTHROW(repack_planar(GGMLType::Q4_0, src, 1, 32, 16, dst));
  std::vector<uint8_t> short_src(17);
  CHECK_THROWS_AS(repack_planar(GGMLType::Q4_0, short_src, 1, 32, 16, dst), std::invalid_argument);
  std::vector<uint8_t> short_dst(dst.size() - 1);
  CHECK_THROWS_AS(repack_planar(GGMLType::Q4_0, src, 1, 32, 16, short_dst), std::invalid_argument);
}
