// get_rows_<fmt> (embedding gather from GGUF block-format tables, read as stored) against the CPU
// dequantization of quant/formats.h.
#include <cstring>
#include <stdexcept>
#include <string>

#include "graph/ops.h"
#include "quant/formats.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

const GGMLType kFormats[] = {GGMLType::Q8_0,  GGMLType::Q4_0,   GGMLType::Q4_1, GGMLType::Q5_0,
                             GGMLType::Q5_1,  GGMLType::IQ4_NL, GGMLType::Q4_K, GGMLType::Q5_K,
                             GGMLType::Q6_K,  GGMLType::Q2_K,   GGMLType::Q3_K, GGMLType::BF16,
                             GGMLType::IQ4_XS};

// Gathers rows ids of a random [n_table x n_cols] table; ids >= n_table must give zero rows.
void check_get_rows(GGMLType type, uint32_t n_table, uint32_t n_cols,
                    const std::vector<uint32_t>& ids, uint32_t seed, uint64_t offset = 0) {
  auto x = test::random_floats(size_t(n_table) * n_cols, seed);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= 0.5f + float((i / 32) % 5);
  const std::vector<uint8_t> q = quantize_rows(type, x.data(), n_table, n_cols);
  const std::vector<float> values = dequantize_all(type, q, int64_t(n_table) * n_cols);
  std::vector<uint8_t> bytes(offset, 0xFF);
  bytes.insert(bytes.end(), q.begin(), q.end());
  bytes.resize(bytes.size() + 2, 0xFF);  // a table may end mid-word
  const uint32_t n_out = uint32_t(ids.size());
  std::vector<float> want(size_t(n_out) * n_cols, 0.0f);
  for (uint32_t t = 0; t < n_out; ++t) {
    if (ids[t] >= n_table) continue;
    for (uint32_t c = 0; c < n_cols; ++c)
      want[size_t(t) * n_cols + c] = values[size_t(ids[t]) * n_cols + c];
  }

  Ops ops(test::context());
  rt::Buffer dt = test::upload(bytes), di = test::upload(ids),
             dout = test::poisoned(want.size() * 4);
  test::run([&](rt::Sequence& s) {
    ops.get_rows(s, type, {dt, offset, q.size()}, di, dout, n_cols, n_out);
  });
  test::check_close(test::download<float>(dout, want.size()), want, 1e-6, 1.0,
                    "get_rows " + type_name(type) + " n_cols=" + std::to_string(n_cols));
}

}  // namespace

TEST_CASE("get_rows: quantized tables, 1..3 blocks per row, repeated and out-of-range ids") {
  uint32_t seed = 100;
  for (GGMLType type : kFormats) {
    const uint32_t block = quant_kernel_format(type)->block;
    check_get_rows(type, 1, block, {0}, ++seed);
    check_get_rows(type, 7, 2 * block, {3, 0, 6, 3, 3, 7, 1000000}, ++seed);
    check_get_rows(type, 33, 3 * block, {32, 1, 2, 17, 0, 32, 5, 0xFFFFFFFFu}, ++seed);
    test::check_no_validation_messages();
  }
}

TEST_CASE("get_rows: quantized table bound at an offset") {
  const uint64_t align = std::max<uint64_t>(test::context().info().min_storage_offset_alignment, 4);
  check_get_rows(GGMLType::Q8_0, 9, 64, {8, 0, 4}, 11, align);
  check_get_rows(GGMLType::Q6_K, 5, 256, {4, 1}, 12, 3 * align);
  test::check_no_validation_messages();
}

TEST_CASE("get_rows: quantized tables need n_cols a multiple of the block") {
  Ops ops(test::context());
  rt::Buffer b = test::upload(std::vector<float>(256, 1.0f));
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_WITH_AS(ops.get_rows(seq, GGMLType::Q4_0, b, b, b, 48, 1), doctest::Contains("Q4_0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ops.get_rows(seq, GGMLType::IQ2_XXS, b, b, b, 256, 1),
                       doctest::Contains("IQ2_XXS"), std::invalid_argument);
  seq.end();
  test::check_no_validation_messages();
}
