// quant/repack.h: the planar layout of Q4_0, Q8_0, F16 and BF16 keeps every block's quant bytes and
// scale, each texel where planar_quant_texel() / planar_scale_texel() say, with zeroed padding;
// that of the other planar formats dequantizes to exactly what GGUF's blocks do.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/formats.h"
#include "quant/half.h"
#include "quant/repack.h"

using namespace vkllm;

namespace {

std::vector<float> ramp(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = float((i * 37) % 101) / 50.0f - 1.0f + float(i % 7) * 0.1f;
  return x;
}

}  // namespace

TEST_CASE("repack: planar texels walk each tile lane by lane, row by row, texel by texel") {
  // Enumerated in storage order, the quant texels are (tile, texel, row of the lane, lane) and
  // the scale texels (group tile, block, lane): consecutive indices, no gaps.
  for (const PlanarParams p : {PlanarParams{16, 8, 8}, PlanarParams{16, 8, 2},
                               PlanarParams{16, 4, 1}, PlanarParams{256, 16, 4}}) {
    const uint64_t tr = uint64_t{p.lanes} * p.lane_rows, j_row = 5, tiles = 3;
    uint64_t want = 0;
    for (uint64_t tile = 0; tile < tiles; ++tile)
      for (uint64_t t = 0; t < j_row; ++t)
        for (uint64_t r = 0; r < p.lane_rows; ++r)
          for (uint64_t l = 0; l < p.lanes; ++l)
            CHECK(planar_quant_texel(p, tile * tr + l * p.lane_rows + r, t, j_row) == want++);
    want = 0;
    const uint64_t nb = 3;
    for (uint64_t gt = 0; gt < tiles; ++gt)
      for (uint64_t b = 0; b < nb; ++b)
        for (uint64_t l = 0; l < p.lanes; ++l) {
          const uint64_t g = gt * p.lanes + l;
          for (uint64_t m = 8 * g; m < 8 * g + 8; ++m)
            CHECK(planar_scale_texel(p, m, b, nb) == want);
          ++want;
        }
  }
}

TEST_CASE("repack: planar Q4_0, Q8_0, F16 and BF16 hold each block's quants and scale") {
  for (GGMLType type : {GGMLType::Q4_0, GGMLType::Q8_0, GGMLType::F16, GGMLType::BF16}) {
    const bool f16 = type == GGMLType::F16 || type == GGMLType::BF16;  // no scales
    const uint64_t qb = type == GGMLType::Q4_0 ? 16 : type == GGMLType::Q8_0 ? 32 : 64;
    const uint64_t sb = f16 ? 0 : 2;  // leading scale bytes of a block
    for (uint64_t rows : {1u, 3u, 17u, 70u}) {
      for (uint64_t cols : {32u, 96u}) {
        const auto x = ramp(rows * cols);
        const auto gguf = quantize_rows(type, x.data(), int64_t(rows), int64_t(cols));
        for (const PlanarParams p :
             {PlanarParams{16, 8, 8}, PlanarParams{256, 8, 2}, PlanarParams{256, 4, 16}}) {
          const PlanarShape s = planar_shape(type, rows, cols, p);
          const uint64_t tile = uint64_t{p.lanes} * (f16 ? p.lane_rows : std::max(p.lane_rows, 8u));
          const uint64_t nb = cols / 32, per_block = qb / 16;
          CHECK(s.rows % tile == 0);
          CHECK(s.rows >= rows);
          CHECK(s.rows < rows + tile);
          CHECK(s.quant_bytes == s.rows * nb * qb);
          CHECK(s.scale_offset % p.align == 0);
          CHECK(s.scale_offset >= s.quant_bytes);
          CHECK(s.scale_bytes == (f16 ? 0 : s.rows / 8 * nb * 16));
          CHECK(s.total_bytes % 16 == 0);
          CHECK(s.total_bytes >= s.scale_offset + s.scale_bytes);
          std::vector<uint8_t> out(s.total_bytes, 0xAB);
          repack_planar(type, gguf, rows, cols, p, out);
          std::vector<bool> used(s.total_bytes, false);
          for (uint64_t m = 0; m < rows; ++m) {
            for (uint64_t b = 0; b < nb; ++b) {
              const uint8_t* src = gguf.data() + (m * nb + b) * (qb + sb);
              if (!f16) {
                const uint64_t at =
                    s.scale_offset + planar_scale_texel(p, m, b, nb) * 16 + (m % 8) * 2;
                CHECK(std::memcmp(out.data() + at, src, 2) == 0);
                used[at] = used[at + 1] = true;
              }
              for (uint64_t h = 0; h < per_block; ++h) {
                const uint64_t at =
                    planar_quant_texel(p, m, b * per_block + h, nb * per_block) * 16;
                REQUIRE(at + 16 <= s.quant_bytes);
                CHECK(std::memcmp(out.data() + at, src + sb + 16 * h, 16) == 0);
                for (uint64_t i = 0; i < 16; ++i) {
                  CHECK_FALSE(used[at + i]);  // no two texels in one place
                  used[at + i] = true;
                }
              }
            }
          }
          // Padding rows, the gap before the scale plane and the tail are zero.
          for (uint64_t i = 0; i < s.total_bytes; ++i)
            if (!used[i]) CHECK(out[i] == 0);
        }
      }
    }
  }
}

// Every format with a split into quants and parameters (all planar ones but Q4_0, Q8_0, F16,
// BF16).
TEST_CASE("repack: planar forms of the other formats dequantize exactly as their GGUF blocks") {
  for (GGMLType type :
       {GGMLType::Q4_1, GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::IQ4_NL, GGMLType::Q4_K,
        GGMLType::Q5_K, GGMLType::Q6_K, GGMLType::Q3_K, GGMLType::Q2_K, GGMLType::IQ4_XS}) {
    const std::string form = planar_kernel(type);
    const bool nibbles = planar_quant_texels(type) == 1, f16_scale = form == "q8_0";
    const uint64_t block = weight_format(type)->block_size;
    const uint32_t texels = f16_scale ? 1u : form == "q2_k" ? 8u : 4u;  // 2 per f32 parameter
    CHECK(planar_scale_texels(type) == texels);
    for (uint64_t rows : {1u, 5u, 19u, 70u}) {
      for (uint64_t cols : {block, 3 * block}) {
        auto x = ramp(rows * cols);
        for (size_t i = 0; i < x.size(); ++i) x[i] *= 1.0f + float(i % 13) * 0.37f;  // ranges vary
        const auto gguf = quantize_rows(type, x.data(), int64_t(rows), int64_t(cols));
        const auto want = dequantize_all(type, gguf, int64_t(rows * cols));
        for (const PlanarParams p : {PlanarParams{16, 8, 8}, PlanarParams{256, 4, 16}}) {
          const PlanarShape s = planar_shape(type, rows, cols, p);
          const uint64_t nb = cols / 32, per_block = nibbles ? 1 : 2;
          CHECK(s.rows % (uint64_t{p.lanes} * std::max(p.lane_rows, 8u)) == 0);
          CHECK(s.quant_bytes == s.rows * nb * 16 * per_block);
          CHECK(s.scale_bytes == s.rows / 8 * nb * 16 * planar_scale_texels(type));
          std::vector<uint8_t> out(s.total_bytes, 0xAB);
          repack_planar(type, gguf, rows, cols, p, out);
          std::vector<bool> used(s.total_bytes, false);
          auto scale_bytes = [&](uint64_t at, uint64_t n) {
            for (uint64_t i = 0; i < n; ++i) used[s.scale_offset + at + i] = true;
            return out.data() + s.scale_offset + at;
          };
          auto param = [&](uint64_t m, uint64_t b, uint64_t k) {  // k 0: a, 1: b (Q2_K: 0..3)
            float v;
            std::memcpy(
                &v,
                scale_bytes(
                    planar_scale_texel(p, m, b, nb, texels, 2 * k + (m % 8) / 4) * 16 + (m % 4) * 4,
                    4),
                4);
            return v;
          };
          size_t bad = 0;
          for (uint64_t m = 0; m < rows; ++m) {
            for (uint64_t b = 0; b < nb; ++b) {
              float pa, pb = 0.0f, pc = 0.0f, pe = 0.0f;
              if (f16_scale) {
                uint16_t d;
                std::memcpy(&d, scale_bytes(planar_scale_texel(p, m, b, nb) * 16 + (m % 8) * 2, 2),
                            2);
                pa = fp16_to_fp32(d);
              } else {
                pa = param(m, b, 0), pb = param(m, b, 1);
                if (texels == 8) pc = param(m, b, 2), pe = param(m, b, 3);
              }
              for (uint64_t i = 0; i < 32; ++i) {
                const uint64_t t = nibbles ? b : 2 * b + i / 16;
                const uint64_t at = planar_quant_texel(p, m, t, nb * per_block) * 16 + i % 16;
                used[at] = true;
                const float q = nibbles ? float(i < 16 ? out[at] & 0xF : out[at] >> 4)
                                        : float(static_cast<int8_t>(out[at]));
                const float got = f16_scale        ? q * pa
                                  : form == "q6_k" ? (i < 16 ? pa : pb) * q
                                  : form == "q3_k" ? (i < 16 ? pa : pb) * (q - 4)
                                  : form == "q2_k" ? (i < 16 ? pa * q - pb : pc * q - pe)
                                                   : pa * q - pb;
                if (got != want[m * cols + b * 32 + i]) ++bad;
              }
            }
          }
          CHECK_MESSAGE(bad == 0, type_name(type) << " rows=" << rows << " cols=" << cols);
          for (uint64_t i = 0; i < s.total_bytes; ++i)
            if (!used[i]) CHECK(out[i] == 0);
        }
      }
    }
  }
}

TEST_CASE("repack: bad types, shapes and sizes are refused") {
  CHECK(has_planar_layout(GGMLType::Q4_0));
  CHECK(has_planar_layout(GGMLType::Q8_0));
  CHECK(has_planar_layout(GGMLType::Q4_K));
  CHECK(has_planar_layout(GGMLType::Q5_K));
  CHECK(has_planar_layout(GGMLType::Q6_K));
  CHECK(has_planar_layout(GGMLType::IQ4_NL));
  CHECK(has_planar_layout(GGMLType::Q3_K));
  CHECK(has_planar_layout(GGMLType::Q2_K));
  CHECK_FALSE(has_planar_layout(GGMLType::IQ2_XXS));
  CHECK(has_planar_layout(GGMLType::BF16));
  CHECK(has_planar_layout(GGMLType::F16));
  CHECK_FALSE(has_planar_layout(GGMLType::F32));
  const PlanarParams p{16, 8, 8};
  CHECK_THROWS_WITH_AS(planar_shape(GGMLType::IQ2_XXS, 1, 256, p), doctest::Contains("IQ2_XXS"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(planar_shape(GGMLType::Q2_K, 1, 96, p), doctest::Contains("256"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(planar_shape(GGMLType::Q4_K, 1, 96, p), doctest::Contains("256"),
                       std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 48, p), std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 0, p), std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 32, PlanarParams{24, 8, 8}),
                  std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 32, PlanarParams{16, 6, 8}),
                  std::invalid_argument);
  CHECK_THROWS_AS(planar_shape(GGMLType::Q4_0, 1, 32, PlanarParams{16, 8, 0}),
                  std::invalid_argument);
  std::vector<uint8_t> src(18), dst(planar_shape(GGMLType::Q4_0, 1, 32, p).total_bytes);
  CHECK_NOTHROW(repack_planar(GGMLType::Q4_0, src, 1, 32, p, dst));
  std::vector<uint8_t> short_src(17);
  CHECK_THROWS_AS(repack_planar(GGMLType::Q4_0, short_src, 1, 32, p, dst), std::invalid_argument);
  std::vector<uint8_t> short_dst(dst.size() - 1);
  CHECK_THROWS_AS(repack_planar(GGMLType::Q4_0, src, 1, 32, p, short_dst), std::invalid_argument);
}
