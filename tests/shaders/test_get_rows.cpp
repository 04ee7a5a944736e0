// get_rows.comp (embedding gather) against a scalar reference, for F32 and F16 tables.
#include <cstring>
#include <stdexcept>
#include <string>

#include "graph/ops.h"
#include "quant/formats.h"
#include "quant/half.h"
#include "quant/repack.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

// Gathers rows ids of a random [n_table x n_cols] table; ids >= n_table must give zero rows.
void check_get_rows(GGMLType type, uint32_t n_table, uint32_t n_cols,
                    const std::vector<uint32_t>& ids, uint32_t seed, uint64_t offset = 0) {
  auto values = test::random_floats(size_t(n_table) * n_cols, seed);
  std::vector<uint8_t> bytes(offset, 0xFF);
  if (type == GGMLType::F16) {
    for (float& v : values) {
      const uint16_t h = fp32_to_fp16(v);
      v = fp16_to_fp32(h);
      bytes.push_back(uint8_t(h & 0xFF));
      bytes.push_back(uint8_t(h >> 8));
    }
  } else {
    bytes.resize(offset + values.size() * 4);
    std::memcpy(bytes.data() + offset, values.data(), values.size() * 4);
  }
  const uint64_t table_bytes = bytes.size() - offset;
  bytes.resize(bytes.size() + 2, 0xFF);  // F16: an odd element count ends mid-word
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
    ops.get_rows(s, type, {dt, offset, table_bytes}, di, dout, n_cols, n_out);
  });
  test::check_close(test::download<float>(dout, want.size()), want, 0.0, 1.0,
                    "get_rows " + type_name(type) + " n_cols=" + std::to_string(n_cols));
  test::check_no_validation_messages();
}

}  // namespace

TEST_CASE("get_rows: F32 and F16 tables, odd widths, repeated ids") {
  for (GGMLType type : {GGMLType::F32, GGMLType::F16}) {
    check_get_rows(type, 1, 1, {0}, 1);
    check_get_rows(type, 10, 7, {3, 0, 9, 3, 3}, 2);  // odd width: f16 rows start mid-word
    check_get_rows(type, 37, 33, {36, 1, 2, 17, 0, 36, 5}, 3);
    check_get_rows(type, 5, 4097, {4, 2}, 4);
    std::vector<uint32_t> many(300);
    for (uint32_t i = 0; i < many.size(); ++i) many[i] = (i * 7919u) % 512;
    check_get_rows(type, 512, 288, many, 5);
  }
}

TEST_CASE("get_rows: table bound at an offset") {
  const uint64_t align = std::max<uint64_t>(test::context().info().min_storage_offset_alignment, 4);
  check_get_rows(GGMLType::F32, 9, 13, {8, 0, 4}, 11, align);
  check_get_rows(GGMLType::F16, 9, 13, {8, 0, 4}, 12, 3 * align);
}

TEST_CASE("get_rows: out-of-range ids give zero rows") {
  check_get_rows(GGMLType::F32, 4, 9, {1, 4, 1000000, 3}, 21);
  check_get_rows(GGMLType::F16, 4, 9, {0xFFFFFFFFu, 2}, 22);
}

TEST_CASE("get_rows: unsupported type throws") {
  Ops ops(test::context());
  rt::Buffer b = test::upload(std::vector<float>(64, 1.0f));
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_WITH_AS(ops.get_rows(seq, GGMLType::IQ2_XXS, b, b, b, 256, 1),
                       doctest::Contains("IQ2_XXS"), std::invalid_argument);
  seq.end();
  test::check_no_validation_messages();
}

// A table split by rows (graph/model.cpp's pieces): one dispatch per piece, each gathering the ids
// it holds (row0 = its first id), the last also zeros for ids past the table; every output row is
// written exactly once (poisoned output).
TEST_CASE("get_rows: a table split into pieces, one dispatch each") {
  const uint32_t n_table = 300, n_cols = 64, split = 256;
  const std::vector<uint32_t> ids = {0, 255, 256, 299, 300, 7, 1000000, 280, 128, 299};
  for (GGMLType type : {GGMLType::F32, GGMLType::F16, GGMLType::Q8_0, GGMLType::Q4_0}) {
    INFO("type " << type_name(type));
    const std::vector<float> values = test::random_floats(size_t(n_table) * n_cols, 31);
    const std::vector<uint8_t> bytes = quantize_rows(type, values.data(), n_table, n_cols);
    const std::vector<float> table = dequantize_all(type, bytes, int64_t(n_table) * n_cols);
    const size_t row_bytes = bytes.size() / n_table;
    std::vector<float> want(ids.size() * n_cols, 0.0f);
    for (size_t t = 0; t < ids.size(); ++t)
      if (ids[t] < n_table)
        std::memcpy(&want[t * n_cols], &table[size_t(ids[t]) * n_cols], n_cols * 4);
    auto piece = [&](uint32_t r0, uint32_t r1) {
      std::vector<uint8_t> b(bytes.begin() + r0 * row_bytes, bytes.begin() + r1 * row_bytes);
      b.resize(b.size() + 4, 0xFF);  // the kernels read whole words
      return test::upload(b);
    };
    Ops ops(test::context());
    rt::Buffer p0 = piece(0, split), p1 = piece(split, n_table), di = test::upload(ids),
               dout = test::poisoned(want.size() * 4);
    test::run([&](rt::Sequence& s) {
      ops.get_rows(s, type, {p0, 0, split * row_bytes}, di, dout, n_cols, uint32_t(ids.size()),
                   TablePiece{0, false});
      ops.get_rows(s, type, {p1, 0, (n_table - split) * row_bytes}, di, dout, n_cols,
                   uint32_t(ids.size()), TablePiece{split, true});
    });
    test::check_close(test::download<float>(dout, want.size()), want, 0.0, 1.0, "split get_rows");
    test::check_no_validation_messages();
  }
}

// get_rows_planar.comp: a table repacked to the planar layout (a tied embedding kept in the
// output product's layout), against the dequantized GGUF rows; 300 rows (not whole tiles), also
// as two pieces.
TEST_CASE("get_rows: tables in every planar format") {
  if (!test::context().info().texel_buffers) return;
  const uint32_t n_table = 300, split = 256;
  const std::vector<uint32_t> ids = {0, 299, 256, 255, 300, 1, 4000000000u, 63, 64, 171};
  for (GGMLType type :
       {GGMLType::Q4_0, GGMLType::Q8_0, GGMLType::F16, GGMLType::BF16, GGMLType::Q4_1,
        GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::IQ4_NL, GGMLType::Q4_K, GGMLType::Q5_K,
        GGMLType::Q6_K, GGMLType::Q3_K, GGMLType::Q2_K, GGMLType::IQ4_XS}) {
    INFO("type " << type_name(type));
    const uint32_t n_cols = weight_format(type)->block_size == 256 ? 512 : 96;
    std::vector<float> values = test::random_floats(size_t(n_table) * n_cols, 41);
    for (size_t i = 0; i < values.size(); ++i) values[i] *= 0.5f + float((i / 32) % 5);
    const std::vector<uint8_t> bytes = quantize_rows(type, values.data(), n_table, n_cols);
    const std::vector<float> table = dequantize_all(type, bytes, int64_t(n_table) * n_cols);
    std::vector<float> want(ids.size() * n_cols, 0.0f);
    for (size_t t = 0; t < ids.size(); ++t)
      if (ids[t] < n_table)
        std::memcpy(&want[t * n_cols], &table[size_t(ids[t]) * n_cols], n_cols * 4);
    Ops ops(test::context());
    const PlanarParams pp = ops.planar_params(type);
    const size_t rb = bytes.size() / n_table;
    auto planar = [&](uint32_t r0, uint32_t r1) {
      std::vector<uint8_t> out(planar_shape(type, r1 - r0, n_cols, pp).total_bytes);
      repack_planar(type, {bytes.data() + r0 * rb, (r1 - r0) * rb}, r1 - r0, n_cols, pp, out);
      return test::upload(out);
    };
    rt::Buffer whole = planar(0, n_table), p0 = planar(0, split), p1 = planar(split, n_table);
    rt::Buffer di = test::upload(ids);
    const auto n_out = uint32_t(ids.size());
    rt::Buffer dout = test::poisoned(want.size() * 4);
    test::run([&](rt::Sequence& s) {
      ops.get_rows(s, type, whole, di, dout, n_cols, n_out,
                   TablePiece{0, true, WeightLayout::Planar, n_table});
    });
    test::check_close(test::download<float>(dout, want.size()), want, 0.0, 1.0, "planar get_rows");
    rt::Buffer dout2 = test::poisoned(want.size() * 4);
    test::run([&](rt::Sequence& s) {
      ops.get_rows(s, type, p0, di, dout2, n_cols, n_out,
                   TablePiece{0, false, WeightLayout::Planar, split});
      ops.get_rows(s, type, p1, di, dout2, n_cols, n_out,
                   TablePiece{split, true, WeightLayout::Planar, n_table - split});
    });
    test::check_close(test::download<float>(dout2, want.size()), want, 0.0, 1.0,
                      "planar get_rows in two pieces");
    test::check_no_validation_messages();
  }
}
