// Weight format table: consistency with the GGML type table, round trips on Gaussian data,
// exact round trips of on-grid blocks, hand-built known-answer blocks (layout compatibility with
// ggml) and argument checking of quantize_rows / dequantize_all.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/formats.h"
#include "quant/half.h"
#include "quant/types.h"

using namespace vkllm;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Columns used for round trips: two blocks, or three super-blocks for the K-quants.
int64_t test_cols(const WeightFormat& f) {
  if (f.block_size == 1) return 96;
  return f.block_size == 256 ? 3 * 256 : 2 * f.block_size;
}

double rel_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    ref += double(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

void put_u16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  std::memcpy(&b[at], &v, 2);
}
void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  std::memcpy(&b[at], &v, 4);
}

std::vector<float> dequant(GGMLType t, const std::vector<uint8_t>& q) {
  const WeightFormat* f = weight_format(t);
  REQUIRE(f);
  return dequantize_all(t, q, static_cast<int64_t>(q.size() / f->block_bytes * f->block_size));
}

std::string message_of(const auto& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no std::invalid_argument thrown>";
}

}  // namespace

TEST_CASE("weight format table agrees with the GGML type table") {
  const auto formats = weight_formats();
  const GGMLType order[] = {GGMLType::F32,  GGMLType::F16,    GGMLType::BF16,  GGMLType::Q8_0,
                            GGMLType::Q4_0, GGMLType::Q4_1,   GGMLType::Q5_0,  GGMLType::Q5_1,
                            GGMLType::Q2_K, GGMLType::Q3_K,   GGMLType::Q4_K,  GGMLType::Q5_K,
                            GGMLType::Q6_K, GGMLType::IQ4_NL, GGMLType::IQ4_XS};
  REQUIRE(formats.size() == std::size(order));
  std::set<std::string> glsl;
  for (size_t i = 0; i < formats.size(); ++i) {
    const WeightFormat& f = formats[i];
    const std::string name = f.name;
    CAPTURE(name);
    CHECK(f.type == order[i]);
    const TypeInfo* ti = type_info(f.type);
    REQUIRE(ti);
    CHECK(f.block_bytes == ti->type_size);
    CHECK(f.block_size == ti->block_size);
    CHECK(std::string(f.name) == type_name(f.type));
    CHECK(std::string(f.name) == ti->name);
    CHECK(static_cast<bool>(f.quantize));
    CHECK(static_cast<bool>(f.dequantize));
    CHECK(f.max_rel_rmse >= 0.0);
    // glsl suffix is the lower-cased name.
    std::string lower = f.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(std::string(f.glsl) == lower);
    CHECK(glsl.insert(f.glsl).second);
    CHECK(weight_format(f.type) == &f);
    CHECK(weight_format_by_name(f.name) == &f);
    CHECK(weight_format_by_name(f.glsl) == &f);
  }
  CHECK(weight_format_by_name("q4_k") == weight_format(GGMLType::Q4_K));
  CHECK(weight_format_by_name("Iq4_Nl") == weight_format(GGMLType::IQ4_NL));
  CHECK(weight_format_by_name("q4") == nullptr);
  CHECK(weight_format_by_name("") == nullptr);
  CHECK(weight_format_by_name("q4_0 ") == nullptr);
  CHECK(weight_format_by_name("Q8_1") == nullptr);
  CHECK(weight_format(GGMLType::Q8_1) == nullptr);
  CHECK(weight_format(GGMLType::IQ2_XXS) == nullptr);
  CHECK(weight_format_by_name("iq4_xs") == weight_format(GGMLType::IQ4_XS));
  CHECK(weight_format(GGMLType::Q8_K) == nullptr);
}

TEST_CASE("round trip of Gaussian data stays within max_rel_rmse") {
  for (const WeightFormat& f : weight_formats()) {
    const std::string name = f.name;
    CAPTURE(name);
    const int64_t rows = 7, cols = test_cols(f);
    const auto x =
        gaussian(static_cast<size_t>(rows * cols), 1234u + static_cast<uint32_t>(f.type));
    const auto q = quantize_rows(f.type, x.data(), rows, cols);
    REQUIRE(q.size() == static_cast<size_t>(rows * (cols / f.block_size) * f.block_bytes));
    const auto y = dequantize_all(f.type, q, rows * cols);
    REQUIRE(y.size() == x.size());
    const double e = rel_rmse(x, y);
    MESSAGE(std::string(f.name) << " relative rmse " << e << " (bound " << f.max_rel_rmse << ")");
    CHECK(e <= f.max_rel_rmse);
    // Rows are independent: quantizing one row alone gives that row's bytes.
    const int64_t row_bytes = cols / f.block_size * f.block_bytes;
    const auto q3 = quantize_rows(f.type, x.data() + 3 * cols, 1, cols);
    CHECK(std::equal(q3.begin(), q3.end(), q.begin() + 3 * row_bytes));
    // Deterministic.
    CHECK(quantize_rows(f.type, x.data(), rows, cols) == q);
    // A scaled copy of the data (different magnitudes) keeps the same relative error bound.
    std::vector<float> xs(x);
    for (float& v : xs) v *= 37.5f;
    const auto ys =
        dequantize_all(f.type, quantize_rows(f.type, xs.data(), rows, cols), rows * cols);
    CHECK(rel_rmse(xs, ys) <= f.max_rel_rmse);
  }
}

TEST_CASE("all-zero and constant rows") {
  for (const WeightFormat& f : weight_formats()) {
    const std::string name = f.name;
    CAPTURE(name);
    const int64_t cols = test_cols(f);
    std::vector<float> zeros(static_cast<size_t>(cols), 0.0f);
    auto y = dequantize_all(f.type, quantize_rows(f.type, zeros.data(), 1, cols), cols);
    for (float v : y) CHECK(v == 0.0f);
    std::vector<float> ones(static_cast<size_t>(cols), -1.0f);
    y = dequantize_all(f.type, quantize_rows(f.type, ones.data(), 1, cols), cols);
    for (float v : y) CHECK(v == doctest::Approx(-1.0f).epsilon(0.02));
  }
}

TEST_CASE("float formats") {
  const std::vector<float> x = {1.0f, -2.5f, 65504.0f, 1e-8f, 3.14159265f, -0.0f};
  auto q = quantize_rows(GGMLType::F16, x.data(), 1, 6);
  REQUIRE(q.size() == 12);
  uint16_t h0, h2;
  std::memcpy(&h0, &q[0], 2);
  std::memcpy(&h2, &q[4], 2);
  CHECK(h0 == 0x3C00);
  CHECK(h2 == 0x7BFF);
  auto y = dequantize_all(GGMLType::F16, q, 6);
  CHECK(y[1] == -2.5f);
  CHECK(y[4] == fp16_to_fp32(fp32_to_fp16(3.14159265f)));
  q = quantize_rows(GGMLType::BF16, x.data(), 1, 6);
  y = dequantize_all(GGMLType::BF16, q, 6);
  CHECK(y[0] == 1.0f);
  CHECK(y[4] == bf16_to_fp32(fp32_to_bf16(3.14159265f)));
  q = quantize_rows(GGMLType::F32, x.data(), 1, 6);
  CHECK(dequantize_all(GGMLType::F32, q, 6) == x);
}

TEST_CASE("on-grid blocks quantize back to the same bytes") {
  std::mt19937 rng(42);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto rand_d = [&](bool allow_negative) {
    float d = std::uniform_real_distribution<float>(0.01f, 4.0f)(rng);
    if (allow_negative && uni(0, 1)) d = -d;
    return fp32_to_fp16(d);
  };
  for (int iter = 0; iter < 200; ++iter) {
    CAPTURE(iter);
    {  // Q8_0: d > 0 (ggml never writes a negative d), qs in [-127, 127], one at +-127.
      std::vector<uint8_t> b(34);
      put_u16(b, 0, rand_d(false));
      for (int j = 0; j < 32; ++j)
        b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(uni(-127, 127)));
      b[2 + uni(0, 31)] = static_cast<uint8_t>(static_cast<int8_t>(uni(0, 1) ? 127 : -127));
      const auto x = dequant(GGMLType::Q8_0, b);
      CHECK(quantize_rows(GGMLType::Q8_0, x.data(), 1, 32) == b);
    }
    {  // Q4_0: any sign of d, at least one nibble 0 (the value -8d of largest magnitude).
      std::vector<uint8_t> b(18);
      put_u16(b, 0, rand_d(true));
      for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(uni(0, 255));
      const int k = uni(0, 31);
      b[2 + k % 16] &= k < 16 ? 0xF0 : 0x0F;
      const auto x = dequant(GGMLType::Q4_0, b);
      CHECK(quantize_rows(GGMLType::Q4_0, x.data(), 1, 32) == b);
    }
    {  // Q5_0: as Q4_0 with 5-bit values, at least one 0 (value -16d).
      std::vector<uint8_t> b(22);
      put_u16(b, 0, rand_d(true));
      uint32_t qh = static_cast<uint32_t>(rng());
      for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>(uni(0, 255));
      const int k = uni(0, 31);
      b[6 + k % 16] &= k < 16 ? 0xF0 : 0x0F;
      qh &= ~(1u << k);
      put_u32(b, 2, qh);
      const auto x = dequant(GGMLType::Q5_0, b);
      CHECK(quantize_rows(GGMLType::Q5_0, x.data(), 1, 32) == b);
    }
    {  // IQ4_NL: any sign of d, at least one index 0 (value -127d), found by the scale search.
      std::vector<uint8_t> b(18);
      put_u16(b, 0, rand_d(true));
      for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(uni(0, 255));
      const int k = uni(0, 31);
      b[2 + k % 16] &= k < 16 ? 0xF0 : 0x0F;
      const auto x = dequant(GGMLType::IQ4_NL, b);
      CHECK(quantize_rows(GGMLType::IQ4_NL, x.data(), 1, 32) == b);
    }
  }
}

// Known-answer blocks: raw bytes laid out by hand, expected values from the ggml formulas.

TEST_CASE("known answer: Q8_0") {
  std::vector<uint8_t> b(34);
  put_u16(b, 0, 0x3800);  // d = 0.5
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(j - 16);
  b[2 + 31] = 0x80;  // -128
  const auto y = dequant(GGMLType::Q8_0, b);
  for (int j = 0; j < 31; ++j) CHECK(y[j] == (j - 16) * 0.5f);
  CHECK(y[0] == -8.0f);
  CHECK(y[31] == -64.0f);
}

TEST_CASE("known answer: Q4_0 nibble order") {
  std::vector<uint8_t> b(18);
  put_u16(b, 0, 0x3800);  // d = 0.5
  // Byte j: element j in the low nibble, element j + 16 in the high nibble.
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequant(GGMLType::Q4_0, b);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == (j - 8) * 0.5f);
    CHECK(y[j + 16] == (7 - j) * 0.5f);
  }
  CHECK(y[0] == -4.0f);
  CHECK(y[16] == 3.5f);
  CHECK(y[15] == 3.5f);
  CHECK(y[31] == -4.0f);
  // And the quantizer writes that same layout.
  const auto q = quantize_rows(GGMLType::Q4_0, y.data(), 1, 32);
  CHECK(q == b);
}

TEST_CASE("known answer: Q4_1") {
  std::vector<uint8_t> b(20);
  put_u16(b, 0, 0x3C00);  // d = 1
  put_u16(b, 2, 0xC000);  // m = -2
  b[4 + 0] = 0x21;        // element 0: 1 * 1 - 2 = -1, element 16: 2 - 2 = 0
  b[4 + 15] = 0xF0;       // element 15: -2, element 31: 15 - 2 = 13
  const auto y = dequant(GGMLType::Q4_1, b);
  CHECK(y[0] == -1.0f);
  CHECK(y[16] == 0.0f);
  CHECK(y[15] == -2.0f);
  CHECK(y[31] == 13.0f);
  CHECK(y[1] == -2.0f);
}

TEST_CASE("known answer: Q5_0 and Q5_1 high bits") {
  std::vector<uint8_t> b(22);
  put_u16(b, 0, 0x3800);       // d = 0.5
  put_u32(b, 2, 0x80010001u);  // 5th bit set for elements 0, 16, 31
  b[6 + 0] = 0x53;             // element 0: 3 | 16 = 19, element 16: 5 | 16 = 21
  b[6 + 15] = 0xF0;            // element 15: 0, element 31: 15 | 16 = 31
  b[6 + 1] = 0x4F;             // element 1: 15, element 17: 4
  auto y = dequant(GGMLType::Q5_0, b);
  CHECK(y[0] == (19 - 16) * 0.5f);
  CHECK(y[16] == (21 - 16) * 0.5f);
  CHECK(y[15] == -8.0f);
  CHECK(y[31] == 7.5f);
  CHECK(y[1] == -0.5f);
  CHECK(y[17] == -6.0f);
  CHECK(y[2] == -8.0f);

  std::vector<uint8_t> c(24);
  put_u16(c, 0, 0x3C00);       // d = 1
  put_u16(c, 2, 0x3800);       // m = 0.5
  put_u32(c, 4, 0x00020000u);  // element 17 has the 5th bit
  c[8 + 1] = 0x4F;             // element 1: 15, element 17: 4 | 16 = 20
  y = dequant(GGMLType::Q5_1, c);
  CHECK(y[1] == 15.5f);
  CHECK(y[17] == 20.5f);
  CHECK(y[0] == 0.5f);
}

TEST_CASE("known answer: IQ4_NL") {
  std::vector<uint8_t> b(18);
  put_u16(b, 0, 0x3800);  // d = 0.5
  b[2 + 0] = 0xF0;        // element 0: table[0] = -127, element 16: table[15] = 113
  b[2 + 1] = 0x78;        // element 1: table[8] = 1, element 17: table[7] = -10
  const auto y = dequant(GGMLType::IQ4_NL, b);
  CHECK(y[0] == -63.5f);
  CHECK(y[16] == 56.5f);
  CHECK(y[1] == 0.5f);
  CHECK(y[17] == -5.0f);
  CHECK(y[2] == -63.5f);
}

TEST_CASE("known answer: IQ4_XS") {
  std::vector<uint8_t> b(136);
  put_u16(b, 0, 0x3800);  // d = 0.5
  // Block scales ls (6 bits: low nibble in scales_l, high two bits in scales_h): block 0: 33
  // (0x21), block 1: 30 (0x1E), block 7: 63 (0x3F); the others 32 (d * 0).
  uint16_t scales_h = 0;
  const int ls[8] = {33, 30, 32, 32, 32, 32, 32, 63};
  for (int s = 0; s < 8; ++s) {
    b[4 + s / 2] = static_cast<uint8_t>(b[4 + s / 2] | ((ls[s] & 15) << (4 * (s % 2))));
    scales_h = static_cast<uint16_t>(scales_h | ((ls[s] >> 4) << (2 * s)));
  }
  put_u16(b, 2, scales_h);
  b[8 + 0] = 0xF0;       // block 0 element 0: table[0] = -127, element 16: table[15] = 113
  b[8 + 16 + 1] = 0x78;  // block 1 element 1: table[8] = 1, element 17: table[7] = -10
  b[8 + 7 * 16] = 0x00;  // block 7 element 0 and 16: table[0]
  const auto y = dequant(GGMLType::IQ4_XS, b);
  CHECK(y[0] == -63.5f);       // 0.5 * 1 * -127
  CHECK(y[16] == 56.5f);       // 0.5 * 1 * 113
  CHECK(y[32 + 1] == -1.0f);   // 0.5 * -2 * 1
  CHECK(y[32 + 17] == 10.0f);  // 0.5 * -2 * -10
  CHECK(y[64] == 0.0f);        // scale 0
  CHECK(y[224] == -1968.5f);   // 0.5 * 31 * -127
  CHECK(y[240] == -1968.5f);
  CHECK(y[225] == -1968.5f);  // every qs byte of block 7 is 0: table[0] throughout
}

TEST_CASE("known answer: Q6_K") {
  std::vector<uint8_t> b(210);
  // ql[0..127], qh[128..191], scales[192..207] int8, d at 208.
  put_u16(b, 208, 0x3800);  // d = 0.5
  b[192 + 0] = 2;
  b[192 + 4] = static_cast<uint8_t>(-3);
  b[192 + 2] = 5;
  b[192 + 8] = 1;
  b[0] = 0x21;          // element 0 low nibble 1; element 64 low nibble 2
  b[32] = 0x0F;         // element 32 low nibble 15
  b[128] = 0b11100100;  // top bits: element 0 -> 0, element 32 -> 1, element 64 -> 2, 96 -> 3
  b[64] = 0x07;         // element 128 low nibble 7 (second half)
  b[128 + 32] = 0x03;   // element 128 top bits 3
  const auto y = dequant(GGMLType::Q6_K, b);
  CHECK(y[0] == 0.5f * 2 * (1 - 32));             // -31
  CHECK(y[32] == 0.5f * 5 * ((15 | 16) - 32));    // sub-block 2: -2.5
  CHECK(y[64] == 0.5f * -3 * ((2 | 32) - 32));    // sub-block 4: -3
  CHECK(y[96] == 0.5f * b[192 + 6] * (48 - 32));  // scale 0 -> 0
  CHECK(y[128] == 0.5f * 1 * ((7 | 48) - 32));    // sub-block 8: 11.5
  CHECK(y[1] == 0.5f * 2 * (0 - 32));             // -32
}

TEST_CASE("known answer: Q4_K") {
  std::vector<uint8_t> b(144);
  put_u16(b, 0, 0x3C00);  // d = 1
  put_u16(b, 2, 0x3800);  // dmin = 0.5
  uint8_t* s = &b[4];
  s[0] = 0b01000011;  // sc0 = 3, top bits of sc4 = 1
  s[4] = 0b10000101;  // m0 = 5, top bits of m4 = 2
  s[1] = 4;           // sc1 = 4
  s[5] = 1;           // m1 = 1
  s[8] = 0x72;        // sc4 low = 2, m4 low = 7 -> sc4 = 18, m4 = 39
  b[16 + 0] = 0x9A;   // element 0: 10 (sub-block 0), element 32: 9 (sub-block 1)
  b[16 + 64] = 0x03;  // element 128 (sub-block 4): 3
  const auto y = dequant(GGMLType::Q4_K, b);
  CHECK(y[0] == 1.0f * 3 * 10 - 0.5f * 5);     // 27.5
  CHECK(y[32] == 1.0f * 4 * 9 - 0.5f * 1);     // 35.5
  CHECK(y[128] == 1.0f * 18 * 3 - 0.5f * 39);  // 34.5
  CHECK(y[129] == -19.5f);                     // sub-block 4, nibble 0: just -dmin * m4
  CHECK(y[160] == 0.0f);                       // sub-block 5: scale and min 0
  CHECK(y[1] == -2.5f);
}

// Random K-quant blocks against an element-by-element reading of the ggml layout (an indexing
// independent of the dequantizers' loop structure).
TEST_CASE("K-quant layouts element by element") {
  std::mt19937 rng(7);
  auto rand_bytes = [&](size_t n) {
    std::vector<uint8_t> b(n);
    for (auto& v : b) v = static_cast<uint8_t>(rng());
    return b;
  };
  const float d = 0.25f, dmin = 0.125f;
  auto k4_scale_min = [](const uint8_t* s, int j, int* sc, int* m) {
    if (j < 4) {
      *sc = s[j] & 63;
      *m = s[j + 4] & 63;
    } else {
      *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
      *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
  };
  for (int iter = 0; iter < 20; ++iter) {
    {  // Q2_K
      auto b = rand_bytes(84);
      put_u16(b, 80, fp32_to_fp16(d));
      put_u16(b, 82, fp32_to_fp16(dmin));
      const auto y = dequant(GGMLType::Q2_K, b);
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const int q = (b[16 + 32 * h + l] >> (2 * k)) & 3;
        const int sc = b[e / 16];
        REQUIRE(y[e] == d * (sc & 15) * q - dmin * (sc >> 4));
      }
    }
    {  // Q3_K
      auto b = rand_bytes(110);
      put_u16(b, 108, fp32_to_fp16(d));
      const auto y = dequant(GGMLType::Q3_K, b);
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32, s = e / 16;
        const int lo = (b[32 + 32 * h + l] >> (2 * k)) & 3;
        const bool hi = (b[l] >> (e / 32)) & 1;
        const uint8_t* sc = &b[96];
        const int s6 =
            (s < 8 ? sc[s] & 15 : sc[s - 8] >> 4) | (((sc[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
        REQUIRE(y[e] == d * (s6 - 32) * (lo - (hi ? 0 : 4)));
      }
    }
    {  // Q4_K and Q5_K
      auto b4 = rand_bytes(144);
      put_u16(b4, 0, fp32_to_fp16(d));
      put_u16(b4, 2, fp32_to_fp16(dmin));
      auto b5 = rand_bytes(176);
      put_u16(b5, 0, fp32_to_fp16(d));
      put_u16(b5, 2, fp32_to_fp16(dmin));
      const auto y4 = dequant(GGMLType::Q4_K, b4);
      const auto y5 = dequant(GGMLType::Q5_K, b5);
      for (int e = 0; e < 256; ++e) {
        const int c = e / 64, r = e % 64, l = e % 32, upper = r >= 32;
        int sc, m;
        k4_scale_min(&b4[4], e / 32, &sc, &m);
        const int q4 = (b4[16 + 32 * c + l] >> (4 * upper)) & 15;
        REQUIRE(y4[e] == d * sc * q4 - dmin * m);
        k4_scale_min(&b5[4], e / 32, &sc, &m);
        const int q5 = ((b5[48 + 32 * c + l] >> (4 * upper)) & 15) |
                       (((b5[16 + l] >> (2 * c + upper)) & 1) << 4);
        REQUIRE(y5[e] == d * sc * q5 - dmin * m);
      }
    }
    {  // Q6_K
      auto b = rand_bytes(210);
      put_u16(b, 208, fp32_to_fp16(d));
      const auto y = dequant(GGMLType::Q6_K, b);
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const int lo = (b[64 * h + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
        const int hi = (b[128 + 32 * h + l] >> (2 * k)) & 3;
        const int sc = static_cast<int8_t>(b[192 + e / 16]);
        REQUIRE(y[e] == d * sc * ((lo | (hi << 4)) - 32));
      }
    }
  }
}

TEST_CASE("quantize_rows and dequantize_all reject bad shapes with a clear message") {
  std::vector<float> x(1024, 1.0f);
  std::string msg = message_of([&] { quantize_rows(GGMLType::Q4_0, x.data(), 2, 33); });
  CHECK(msg.find("Q4_0") != std::string::npos);
  CHECK(msg.find("33") != std::string::npos);
  CHECK(msg.find("multiple of the block size 32") != std::string::npos);
  msg = message_of([&] { quantize_rows(GGMLType::Q4_K, x.data(), 1, 128); });
  CHECK(msg.find("Q4_K") != std::string::npos);
  CHECK(msg.find("block size 256") != std::string::npos);
  msg = message_of([&] { quantize_rows(GGMLType::Q8_0, x.data(), 1, 0); });
  CHECK(msg.find("Q8_0") != std::string::npos);
  msg = message_of([&] { quantize_rows(GGMLType::Q8_0, x.data(), -1, 32); });
  CHECK(msg.find("negative") != std::string::npos);
  msg = message_of([&] { quantize_rows(GGMLType::Q8_1, x.data(), 1, 32); });
  CHECK(msg.find("Q8_1") != std::string::npos);
  CHECK(msg.find("not a weight format") != std::string::npos);
  CHECK(quantize_rows(GGMLType::Q8_0, x.data(), 0, 32).empty());

  std::vector<uint8_t> q(34);
  msg = message_of([&] { dequantize_all(GGMLType::Q8_0, q, 16); });
  CHECK(msg.find("Q8_0") != std::string::npos);
  msg = message_of([&] { dequantize_all(GGMLType::Q8_0, q, 64); });
  CHECK(msg.find("68 bytes") != std::string::npos);
  CHECK(dequantize_all(GGMLType::Q8_0, q, 32).size() == 32);
}
