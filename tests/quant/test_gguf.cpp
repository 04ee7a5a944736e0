// GGML type table, fp16/bf16 conversion, GGUF reader/writer round trips and the malformed-file
// corpus.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/gguf.h"
#include "quant/half.h"
#include "quant/types.h"
#include "support/gguf_corpus.h"
#include "support/scratch.h"

namespace fs = std::filesystem;
using namespace vkllm;

namespace {

fs::path shared_dir() {
  if (const char* s = std::getenv("VKLLM_SHARED_DIR")) return s;
  if (const char* s = std::getenv("VKLLM_SOURCE_DIR")) return fs::path(s) / ".." / "shared";
  return "shared";
}

// A fresh temporary directory, removed on destruction.
struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = test::scratch_dir() / ("gguf-" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    GGUFFile::from_bytes(bytes);
  } catch (const GGUFError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("type table") {
  CHECK(type_info(0)->type == GGMLType::F32);
  CHECK(type_info(GGMLType::Q4_K)->block_size == 256);
  CHECK(type_info(GGMLType::Q4_K)->type_size == 144);
  CHECK(type_info(GGMLType::Q6_K)->type_size == 210);
  CHECK(type_info(GGMLType::Q8_0)->type_size == 34);
  CHECK(type_info(GGMLType::BF16)->type_size == 2);
  for (uint32_t bad : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 99u, 0xffffffffu}) {
    CHECK(type_info(bad) == nullptr);
  }
  for (const TypeInfo& t : all_type_infos()) {
    CHECK(type_info(static_cast<uint32_t>(t.type)) == &t);
    CHECK(type_name(t.type) == t.name);
  }
  CHECK(all_type_infos().size() == 32);
  CHECK(type_name(static_cast<GGMLType>(99)) == "unknown(99)");
  CHECK(row_bytes(GGMLType::F32, 64) == 256);
  CHECK(row_bytes(GGMLType::Q4_0, 64) == 36);
  CHECK(row_bytes(GGMLType::Q4_K, 4096) == 16 * 144);
  CHECK_FALSE(row_bytes(GGMLType::Q4_0, 33).has_value());
  CHECK_FALSE(row_bytes(GGMLType::Q4_K, 128).has_value());
  CHECK_FALSE(row_bytes(static_cast<GGMLType>(99), 32).has_value());
  CHECK_FALSE(row_bytes(GGMLType::F64, uint64_t{1} << 62).has_value());
}

TEST_CASE("fp16 <-> fp32") {
  // Every half survives a round trip (NaNs stay NaN with their payload, made quiet).
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    const uint16_t back = fp32_to_fp16(f);
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
      CHECK(std::isnan(f));
      CHECK(back == (h | 0x200));
    } else {
      REQUIRE(back == h);
    }
  }
  CHECK(fp16_to_fp32(0x3c00) == 1.0f);
  CHECK(fp16_to_fp32(0xc000) == -2.0f);
  CHECK(fp16_to_fp32(0x7bff) == 65504.0f);
  CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_fp32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(fp16_to_fp32(0x7c00) == std::numeric_limits<float>::infinity());
  CHECK(std::signbit(fp16_to_fp32(0x8000)));

  CHECK(fp32_to_fp16(65504.0f) == 0x7bff);
  CHECK(fp32_to_fp16(65519.99f) == 0x7bff);
  CHECK(fp32_to_fp16(65520.0f) == 0x7c00);  // tie between 65504 and 2^16 -> even (inf)
  CHECK(fp32_to_fp16(1e10f) == 0x7c00);
  CHECK(fp32_to_fp16(-1e10f) == 0xfc00);
  CHECK(fp32_to_fp16(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK((fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) & 0x7fff) > 0x7c00);
  CHECK((fp32_to_fp16(std::bit_cast<float>(0x7f800001u)) & 0x7fff) > 0x7c00);  // payload lost
  CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);                 // tie -> even
  CHECK(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);             // tie -> even
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // tie -> even (0)
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25) * 1.0001f) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);     // tie -> even (2)
  CHECK(fp32_to_fp16(std::ldexp(1023.5f, -24)) == 0x0400);  // rounds up to normal
  CHECK(fp32_to_fp16(-std::ldexp(1.0f, -30)) == 0x8000);
  CHECK(fp32_to_fp16(std::numeric_limits<float>::denorm_min()) == 0x0000);

#ifdef __FLT16_MAX__
  // Against the compiler's own conversion (correctly rounded) on many random bit patterns.
  std::mt19937 rng(1234);
  for (int i = 0; i < 2'000'000; ++i) {
    const uint32_t bits = rng();
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) continue;
    const _Float16 ref = static_cast<_Float16>(f);
    REQUIRE(fp32_to_fp16(f) == std::bit_cast<uint16_t>(ref));
    // Values near the half range, where rounding matters most.
    const float g = std::ldexp(static_cast<float>(bits >> 8), -static_cast<int>(bits % 48));
    REQUIRE(fp32_to_fp16(g) == std::bit_cast<uint16_t>(static_cast<_Float16>(g)));
  }
#endif
}

TEST_CASE("bf16 <-> fp32") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(b));
    if (std::isnan(f)) {
      CHECK(std::isnan(bf16_to_fp32(fp32_to_bf16(f))));
    } else {
      REQUIRE(fp32_to_bf16(f) == b);
    }
  }
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)) == 0x3f80);  // tie -> even
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)) == 0x3f82);  // tie -> even
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f808001u)) == 0x3f81);
  CHECK(fp32_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // rounds to inf
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x7f800001u)) != 0x7f80);  // NaN stays NaN
  CHECK(std::isnan(bf16_to_fp32(fp32_to_bf16(std::bit_cast<float>(0xff800001u)))));
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x00000001u)) == 0x0000);
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x00008000u)) == 0x0000);  // tie -> even
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x00018000u)) == 0x0002);
}

TEST_CASE("read stories260K.gguf") {
  const fs::path path = shared_dir() / "models" / "stories260K.gguf";
  REQUIRE_MESSAGE(fs::exists(path), "missing ", path.string());
  GGUFFile f = GGUFFile::open(path.string());
  CHECK(f.path() == path.string());
  CHECK((f.version() == 2 || f.version() == 3));
  CHECK(f.file_size() == fs::file_size(path));
  CHECK(f.alignment() == 32);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_u32("llama.embedding_length") == 64);
  CHECK(f.get_u64("llama.embedding_length") == 64);
  CHECK(f.get_i64("llama.embedding_length") == 64);
  CHECK(f.get_u32("llama.block_count") == 5);
  CHECK(f.get_f32("llama.attention.layer_norm_rms_epsilon") > 0.0f);
  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  CHECK(tokens.size() == 512);
  CHECK(f.get_f32_array("tokenizer.ggml.scores").size() == 512);
  CHECK(f.get_i32_array("tokenizer.ggml.token_type").size() == 512);
  CHECK(f.tensors().size() == 48);

  const GGUFTensorInfo* emb = f.find_tensor("token_embd.weight");
  REQUIRE(emb != nullptr);
  CHECK(emb->ne == std::vector<uint64_t>{64, 512});
  CHECK(emb->type == GGMLType::F32);
  CHECK(emb->n_elements == 64 * 512);
  CHECK(emb->n_bytes == 64 * 512 * 4);
  CHECK(f.tensor_data(*emb).size() == 64 * 512 * 4);
  CHECK(f.find_tensor("no.such.tensor") == nullptr);

  uint64_t total = 0;
  for (const GGUFTensorInfo& t : f.tensors()) {
    CHECK(f.tensor_data(t).size() == t.n_bytes);
    CHECK(t.n_bytes == *row_bytes(t.type, t.ne[0]) * (t.n_elements / t.ne[0]));
    CHECK(f.data_offset() + t.offset + t.n_bytes <= f.file_size());
    total += (t.n_bytes + 31) / 32 * 32;
  }
  CHECK(f.data_offset() + total == f.file_size());  // tensors are packed, padded to 32

  // The embedding rows are finite values of a trained model.
  const auto data = f.tensor_data(*emb);
  std::vector<float> row(64);
  std::memcpy(row.data(), data.data(), 64 * sizeof(float));
  for (float x : row) CHECK(std::isfinite(x));

  // Moves keep the mapping valid.
  GGUFFile moved = std::move(f);
  CHECK(moved.tensor_data(*moved.find_tensor("token_embd.weight")).size() == 64 * 512 * 4);
  GGUFFile other = GGUFFile::from_bytes(test::corpus_base_file());
  other = std::move(moved);
  CHECK(other.tensors().size() == 48);
}

namespace {

bool same_value(const GGUFValue& a, const GGUFValue& b);

bool same_array(const GGUFArray& a, const GGUFArray& b) {
  if (a.elem_type != b.elem_type || a.uints != b.uints || a.ints != b.ints || a.f32s != b.f32s ||
      a.f64s != b.f64s || a.bools != b.bools || a.strings != b.strings ||
      a.arrays.size() != b.arrays.size()) {
    return false;
  }
  for (size_t i = 0; i < a.arrays.size(); ++i) {
    if (!same_value(a.arrays[i], b.arrays[i])) return false;
  }
  return true;
}

bool same_value(const GGUFValue& a, const GGUFValue& b) {
  if (a.type != b.type) return false;
  if (a.type == GGUFValueType::ARRAY) return same_array(*a.as_array(), *b.as_array());
  return a.data == b.data;
}

template <typename T>
GGUFArray make_array(GGUFValueType t, std::vector<T> v) {
  GGUFArray a;
  a.elem_type = t;
  if constexpr (std::is_same_v<T, uint64_t>) a.uints = std::move(v);
  if constexpr (std::is_same_v<T, int64_t>) a.ints = std::move(v);
  if constexpr (std::is_same_v<T, float>) a.f32s = std::move(v);
  if constexpr (std::is_same_v<T, double>) a.f64s = std::move(v);
  if constexpr (std::is_same_v<T, uint8_t>) a.bools = std::move(v);
  if constexpr (std::is_same_v<T, std::string>) a.strings = std::move(v);
  if constexpr (std::is_same_v<T, GGUFValue>) a.arrays = std::move(v);
  return a;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

GGUFWriter every_type_writer(uint32_t alignment) {
  using VT = GGUFValueType;
  GGUFWriter w;
  w.set_string("general.architecture", "test");
  if (alignment != 32) w.set_u32("general.alignment", alignment);
  w.set_u8("v.u8", 200);
  w.set_i8("v.i8", -100);
  w.set_u16("v.u16", 60000);
  w.set_i16("v.i16", -30000);
  w.set_u32("v.u32", 4000000000u);
  w.set_i32("v.i32", -2000000000);
  w.set_f32("v.f32", 3.25f);
  w.set_bool("v.bool", false);
  w.set_bool("v.true", true);
  w.set_string("v.string", std::string("h\xc3\xa9llo\0x", 8));
  w.set_string("v.empty", "");
  w.set_u64("v.u64", (uint64_t{1} << 63) + 5);
  w.set_i64("v.i64", std::numeric_limits<int64_t>::min());
  w.set_f64("v.f64", 3.141592653589793);
  w.set_value("a.u8", GGUFValue::make_array(make_array<uint64_t>(VT::UINT8, {0, 1, 255})));
  w.set_value("a.i8", GGUFValue::make_array(make_array<int64_t>(VT::INT8, {-128, 0, 127})));
  w.set_value("a.u16", GGUFValue::make_array(make_array<uint64_t>(VT::UINT16, {65535, 7})));
  w.set_value("a.i16", GGUFValue::make_array(make_array<int64_t>(VT::INT16, {-32768, 32767})));
  w.set_value("a.u32", GGUFValue::make_array(make_array<uint64_t>(VT::UINT32, {4294967295u})));
  w.set_i32_array("a.i32", {-5, 0, 5, std::numeric_limits<int32_t>::min()});
  w.set_f32_array("a.f32", {0.5f, -1e30f, std::numeric_limits<float>::infinity()});
  w.set_value("a.bool", GGUFValue::make_array(make_array<uint8_t>(VT::BOOL, {1, 0, 1})));
  w.set_string_array("a.string", {"", "a", std::string(300, 'z'), "\xe2\x96\x81the"});
  w.set_value("a.u64", GGUFValue::make_array(make_array<uint64_t>(VT::UINT64, {~uint64_t{0}})));
  w.set_value("a.i64", GGUFValue::make_array(make_array<int64_t>(VT::INT64, {-1, 1})));
  w.set_value("a.f64", GGUFValue::make_array(make_array<double>(VT::FLOAT64, {1e300, -0.0})));
  w.set_value("a.empty", GGUFValue::make_array(make_array<std::string>(VT::STRING, {})));
  GGUFValue inner1 = GGUFValue::make_array(make_array<std::string>(VT::STRING, {"x", "yy"}));
  GGUFValue inner2 = GGUFValue::make_array(make_array<std::string>(VT::STRING, {}));
  w.set_value("a.nested",
              GGUFValue::make_array(make_array<GGUFValue>(VT::ARRAY, {inner1, inner2})));

  w.add_tensor("t.f32", GGMLType::F32, {4, 3}, pattern(48, 1));
  w.add_tensor("t.f16", GGMLType::F16, {8}, pattern(16, 2));
  w.add_tensor("t.q4k", GGMLType::Q4_K, {256, 2}, pattern(288, 3));
  w.add_tensor("t.q8_0", GGMLType::Q8_0, {64, 1, 1, 2}, pattern(136, 4));
  w.add_tensor("t.i8", GGMLType::I8, {3}, pattern(3, 5));
  w.add_tensor("t.bf16", GGMLType::BF16, {1, 1, 5}, pattern(10, 6));
  return w;
}

void check_same(const GGUFWriter& w, const GGUFFile& f, uint32_t version, uint32_t alignment) {
  CHECK(f.version() == version);
  CHECK(f.alignment() == alignment);
  REQUIRE(f.metadata().size() == w.metadata().size());
  for (size_t i = 0; i < w.metadata().size(); ++i) {
    CAPTURE(w.metadata()[i].first);
    CHECK(f.metadata()[i].first == w.metadata()[i].first);
    CHECK(same_value(f.metadata()[i].second, w.metadata()[i].second));
  }
  REQUIRE(f.tensors().size() == 6);
  const std::vector<std::pair<const char*, std::vector<uint8_t>>> expect = {
      {"t.f32", pattern(48, 1)},   {"t.f16", pattern(16, 2)}, {"t.q4k", pattern(288, 3)},
      {"t.q8_0", pattern(136, 4)}, {"t.i8", pattern(3, 5)},   {"t.bf16", pattern(10, 6)}};
  for (size_t i = 0; i < expect.size(); ++i) {
    const GGUFTensorInfo& t = f.tensors()[i];
    CHECK(t.name == expect[i].first);
    CHECK(t.offset % alignment == 0);
    const auto d = f.tensor_data(t);
    CHECK(std::vector<uint8_t>(d.begin(), d.end()) == expect[i].second);
  }
  const GGUFTensorInfo* q = f.find_tensor("t.q8_0");
  REQUIRE(q);
  CHECK(q->ne == std::vector<uint64_t>{64, 1, 1, 2});
  CHECK(q->type == GGMLType::Q8_0);
  CHECK(q->n_elements == 128);
  CHECK(q->n_bytes == 136);
  CHECK((f.data_offset() % alignment) == 0);
}

}  // namespace

TEST_CASE("writer -> reader round trip of every value type") {
  TempDir tmp;
  for (uint32_t version : {2u, 3u}) {
    for (uint32_t alignment : {32u, 64u, 1u}) {
      CAPTURE(version);
      CAPTURE(alignment);
      const GGUFWriter w = every_type_writer(alignment);
      const std::vector<uint8_t> bytes = w.serialize(version);
      CHECK(bytes.size() % alignment == 0);
      check_same(w, GGUFFile::from_bytes(bytes), version, alignment);

      const std::string path = (tmp.path / "rt.gguf").string();
      w.write(path, version);
      const GGUFFile f = GGUFFile::open(path);
      CHECK(f.file_size() == bytes.size());
      check_same(w, f, version, alignment);
    }
  }
}

TEST_CASE("typed getters") {
  const GGUFWriter w = every_type_writer(32);
  const GGUFFile f = GGUFFile::from_bytes(w.serialize());
  CHECK(f.get_u32("v.u8") == 200);
  CHECK(f.get_u64("v.u16") == 60000);
  CHECK(f.get_u32("v.u32") == 4000000000u);
  CHECK(f.get_i64("v.i32") == -2000000000);
  CHECK(f.get_u64("v.u64") == (uint64_t{1} << 63) + 5);
  CHECK(f.get_i64("v.i64") == std::numeric_limits<int64_t>::min());
  CHECK(f.get_f32("v.f32") == 3.25f);
  CHECK(f.get_f32("v.f64") == static_cast<float>(3.141592653589793));
  CHECK(f.get_bool("v.true"));
  CHECK_FALSE(f.get_bool("v.bool"));
  CHECK(f.get_string("v.string") == std::string("h\xc3\xa9llo\0x", 8));
  CHECK(f.get_string_array("a.string").size() == 4);
  CHECK(f.get_f32_array("a.f32") == std::vector<float>{0.5f, -1e30f, INFINITY});
  CHECK(f.get_f32_array("a.f64").size() == 2);
  CHECK(f.get_i32_array("a.i32") == std::vector<int32_t>{-5, 0, 5, INT32_MIN});
  CHECK(f.get_i32_array("a.u8") == std::vector<int32_t>{0, 1, 255});
  CHECK(f.get_i32_array("a.i8") == std::vector<int32_t>{-128, 0, 127});
  CHECK(f.has("v.u8"));
  CHECK_FALSE(f.has("v.nope"));
  CHECK(f.find("v.nope") == nullptr);
  CHECK(f.find("a.nested")->type_description() == "array[array[string]]");

  CHECK_FALSE(f.opt_u64("v.nope").has_value());
  CHECK_FALSE(f.opt_u32("v.nope").has_value());
  CHECK_FALSE(f.opt_i64("v.nope").has_value());
  CHECK_FALSE(f.opt_f32("v.nope").has_value());
  CHECK_FALSE(f.opt_string("v.nope").has_value());
  CHECK_FALSE(f.opt_bool("v.nope").has_value());
  CHECK(f.opt_u64("v.u8") == 200u);
  CHECK(f.opt_f32("v.f32") == 3.25f);
  CHECK(f.opt_string("general.architecture") == "test");
  CHECK(f.opt_bool("v.true") == true);

  auto message = [&](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const GGUFError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK(message([&] { f.get_u32("v.nope"); }) == "missing required key 'v.nope'");
  CHECK(message([&] { f.get_u32("v.string"); }) ==
        "key 'v.string' has type string, expected integer");
  CHECK(message([&] { f.get_u32("v.u64"); }) ==
        "key 'v.u64' value 9223372036854775813 does not fit in uint32");
  CHECK(message([&] { f.get_u64("v.i8"); }) == "key 'v.i8' value -100 does not fit in uint64");
  CHECK(message([&] { f.get_i64("v.u64"); }) ==
        "key 'v.u64' value 9223372036854775813 does not fit in int64");
  CHECK(message([&] { f.get_f32("v.u32"); }) == "key 'v.u32' has type uint32, expected float32");
  CHECK(message([&] { f.get_bool("v.u8"); }) == "key 'v.u8' has type uint8, expected bool");
  CHECK(message([&] { f.get_string("v.bool"); }) == "key 'v.bool' has type bool, expected string");
  CHECK(message([&] { f.opt_string("v.u8"); }) == "key 'v.u8' has type uint8, expected string");
  CHECK(message([&] { f.get_string_array("a.f32"); }) ==
        "key 'a.f32' has type array[float32], expected array[string]");
  CHECK(message([&] { f.get_f32_array("a.string"); }) ==
        "key 'a.string' has type array[string], expected array[float32]");
  CHECK(message([&] { f.get_i32_array("a.u32"); }) ==
        "key 'a.u32' element 0 value 4294967295 does not fit in int32");
  CHECK(message([&] { f.get_i32_array("v.u32"); }) ==
        "key 'v.u32' has type uint32, expected array[int32]");
}

TEST_CASE("writer semantics and validation") {
  GGUFWriter w;
  w.set_u32("a", 1);
  w.set_string("b", "x");
  w.set_u32("c", 3);
  w.set_f32("a", 2.0f);  // replaces in place, keeps order
  REQUIRE(w.metadata().size() == 3);
  CHECK(w.metadata()[0].first == "a");
  CHECK(w.metadata()[0].second.type == GGUFValueType::FLOAT32);
  CHECK(w.remove("b"));
  CHECK_FALSE(w.remove("b"));
  {
    const GGUFFile f = GGUFFile::from_bytes(w.serialize());
    REQUIRE(f.metadata().size() == 2);
    CHECK(f.metadata()[0].first == "a");
    CHECK(f.metadata()[1].first == "c");
    CHECK(f.get_f32("a") == 2.0f);
    CHECK(f.tensors().empty());
  }

  const std::vector<uint8_t> d16(16), d34(34);
  w.add_tensor("x", GGMLType::F32, {4}, d16);
  CHECK_THROWS_AS(w.add_tensor("x", GGMLType::F32, {4}, d16), GGUFError);  // duplicate
  CHECK_THROWS_AS(w.add_tensor("y", GGMLType::F32, {5}, d16), GGUFError);  // size
  CHECK_THROWS_AS(w.add_tensor("y", GGMLType::F32, {}, d16), GGUFError);   // 0 dims
  CHECK_THROWS_AS(w.add_tensor("y", GGMLType::F32, {1, 1, 1, 1, 4}, d16), GGUFError);
  CHECK_THROWS_AS(w.add_tensor("y", GGMLType::F32, {4, 0}, d16), GGUFError);
  CHECK_THROWS_AS(w.add_tensor("y", GGMLType::Q8_0, {16}, d34), GGUFError);  // block size
  CHECK_THROWS_AS(w.add_tensor("y", static_cast<GGMLType>(4), {4}, d16), GGUFError);
  CHECK_THROWS_AS(w.add_tensor("y", GGMLType::F32, {1ull << 32, 1ull << 32}, d16), GGUFError);
  w.add_tensor("y", GGMLType::Q8_0, {32}, d34);
  CHECK_THROWS_AS(w.serialize(1), GGUFError);
  CHECK_THROWS_AS(w.serialize(4), GGUFError);
  w.set_u32("general.alignment", 24);
  CHECK_THROWS_AS(w.serialize(), GGUFError);
  w.set_u32("general.alignment", 16);
  const GGUFFile f = GGUFFile::from_bytes(w.serialize(2));
  CHECK(f.alignment() == 16);
  CHECK(f.find_tensor("y")->offset == 16);

  // A tensor info from another file is refused rather than read out of bounds.
  GGUFTensorInfo foreign = *f.find_tensor("y");
  foreign.offset = 1 << 20;
  CHECK_THROWS_AS(f.tensor_data(foreign), GGUFError);

  TempDir tmp;
  CHECK_THROWS_AS(w.write((tmp.path / "no-such-dir" / "x.gguf").string()), GGUFError);
  CHECK_THROWS_AS(GGUFFile::open((tmp.path / "missing.gguf").string()), GGUFError);
  CHECK_THROWS_AS(GGUFFile::open(tmp.path.string()), GGUFError);  // a directory
}

TEST_CASE("malformed corpus: every case is rejected with a one-line GGUFError") {
  const std::vector<uint8_t> base = test::corpus_base_file();
  REQUIRE_NOTHROW(GGUFFile::from_bytes(base));
  const auto corpus = test::malformed_corpus(true);
  CHECK(corpus.size() > 300);
  for (const test::MalformedGGUF& m : corpus) {
    CAPTURE(m.description);
    CHECK_THROWS_AS(GGUFFile::from_bytes(m.bytes), GGUFError);
    const std::string msg = error_of(m.bytes);
    CAPTURE(msg);
    CHECK(!msg.empty());
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.size() < 300);
    if (!m.expect.empty()) CHECK(msg.find(m.expect) != std::string::npos);
  }
  // A few exact messages.
  auto find = [&](std::string_view desc) -> const test::MalformedGGUF& {
    for (const auto& m : corpus) {
      if (m.description == desc) return m;
    }
    FAIL("no corpus case ", desc);
    return corpus.front();
  };
  CHECK(error_of(find("bad magic GGML").bytes) == "bad magic 0x4c4d4747 (not a GGUF file)");
  CHECK(error_of(find("version 7").bytes) == "unsupported GGUF version 7");
  CHECK(error_of(find("empty file").bytes) == "truncated header");
  CHECK(error_of(find("truncated at byte 23").bytes) == "truncated header");
  CHECK(error_of(find("truncated at byte 30").bytes) ==
        "too many tensors (3) for a file of 30 bytes");
  {
    GGUFWriter w;
    w.set_string("k", "v");
    std::vector<uint8_t> b = w.serialize();
    REQUIRE(b.size() == 64);  // 46 bytes, padded to 32
    CHECK(error_of({b.begin(), b.begin() + 37}) ==
          "truncated: metadata key 0 ('k') runs past end of file");
    CHECK(error_of({b.begin(), b.begin() + 45}) ==
          "metadata key 0 ('k'): string of length 1 runs past end of file");
    CHECK_NOTHROW(GGUFFile::from_bytes({b.begin(), b.begin() + 46}));
  }
  size_t truncated = 0;
  for (const auto& m : corpus) truncated += error_of(m.bytes).starts_with("truncated: ");
  CHECK(truncated > 50);
  CHECK(error_of(find("tensor type 99").bytes) == "tensor 't1' has unknown type id 99");
  CHECK(error_of(find("tensor dim 1 is 0").bytes) == "tensor 't1' dimension 1 is 0");
  CHECK(error_of(find("tensor offset +1 (misaligned)").bytes) ==
        "tensor 't1' offset 33 not aligned to 32");
  CHECK(error_of(find("duplicate tensor name").bytes) == "duplicate tensor name 't0'");
}

TEST_CASE("malformed corpus written as files") {
  TempDir tmp;
  const auto files = test::write_malformed_corpus((tmp.path / "corpus").string(), true);
  CHECK(files.size() == test::malformed_corpus(true).size());
  CHECK(test::write_malformed_corpus((tmp.path / "small").string()).size() < files.size());
  for (const auto& [path, desc] : files) {
    CAPTURE(path);
    CAPTURE(desc);
    CHECK(fs::exists(path));
    CHECK_THROWS_AS(GGUFFile::open(path), GGUFError);
  }
}

TEST_CASE("random corruption never crashes") {
  const std::vector<uint8_t> base = test::corpus_base_file();
  std::mt19937 rng(42);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> b = base;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const size_t pos = rng() % b.size();
      switch (rng() % 3) {
        case 0:
          b[pos] = static_cast<uint8_t>(rng());
          break;
        case 1:
          b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        default:
          b[pos] = (rng() % 2) ? 0xff : 0x00;
          break;
      }
    }
    if (rng() % 8 == 0) b.resize(rng() % b.size());
    try {
      const GGUFFile f = GGUFFile::from_bytes(std::move(b));
      for (const GGUFTensorInfo& t : f.tensors()) {
        const auto d = f.tensor_data(t);
        volatile uint8_t sink = d.empty() ? 0 : (d.front() ^ d.back());
        (void)sink;
      }
      for (const auto& [k, v] : f.metadata()) (void)v.type_description();
      ++parsed;
    } catch (const GGUFError&) {
      ++rejected;
    }
  }
  MESSAGE("random corruption: ", parsed, " parsed, ", rejected, " rejected");
  CHECK(rejected > 0);
}
