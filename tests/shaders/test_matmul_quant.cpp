// matvec_<fmt> (weights in GGUF block formats, read as stored) against a
// double-precision reference over the CPU-dequantized weights (quant/formats.h). Errors are
// measured relative to the row's sum of |w * x|.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>

#include "graph/ops.h"
#include "quant/formats.h"
#include "quant/repack.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

const GGMLType kFormats[] = {GGMLType::Q8_0,  GGMLType::Q4_0,   GGMLType::Q4_1, GGMLType::Q5_0,
                             GGMLType::Q5_1,  GGMLType::IQ4_NL, GGMLType::Q4_K, GGMLType::Q5_K,
                             GGMLType::Q6_K,  GGMLType::Q2_K,   GGMLType::Q3_K, GGMLType::BF16,
                             GGMLType::IQ4_XS};

struct QWeights {
  std::vector<float> values;   // CPU dequantization: what the kernel must see
  std::vector<uint8_t> bytes;  // GGUF blocks, rows back to back
};

QWeights make_weights(GGMLType type, uint32_t M, uint32_t K, uint32_t seed) {
  auto x = test::random_floats(size_t(M) * K, seed);
  // Vary the magnitude between rows and blocks so scales differ.
  for (size_t i = 0; i < x.size(); ++i) x[i] *= 0.25f + float((i / 32) % 7);
  QWeights w;
  w.bytes = quantize_rows(type, x.data(), M, K);
  w.values = dequantize_all(type, w.bytes, int64_t(M) * K);
  return w;
}

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

// A buffer holding `bytes` at `offset`, with 0xFF garbage before it and 4 bytes after it.
rt::Buffer upload_at(const void* data, uint64_t bytes, uint64_t offset) {
  std::vector<uint8_t> all(offset + bytes + 4, 0xFF);
  std::memcpy(all.data() + offset, data, bytes);
  return test::upload(all);
}

void check_scaled(const std::vector<float>& got, const std::vector<float>& want,
                  const std::vector<double>& mag, double rel, const std::string& what) {
  std::vector<float> g(got.size()), w(want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    g[i] = float(got[i] / mag[i]);
    w[i] = float(want[i] / mag[i]);
  }
  test::check_close(g, w, rel, 1.0, what);
}

void reference(const std::vector<float>& w, const std::vector<float>& x, uint32_t M, uint32_t K,
               uint32_t T, std::vector<float>& want, std::vector<double>& mag) {
  want.assign(size_t(T) * M, 0.0f);
  mag.assign(size_t(T) * M, 0.0);
  for (uint32_t t = 0; t < T; ++t) {
    for (uint32_t m = 0; m < M; ++m) {
      double sum = 0.0, abs_sum = 0.0;
      for (uint32_t k = 0; k < K; ++k) {
        const double p = double(w[size_t(m) * K + k]) * x[size_t(t) * K + k];
        sum += p;
        abs_sum += std::fabs(p);
      }
      want[size_t(t) * M + m] = float(sum);
      mag[size_t(t) * M + m] = std::max(abs_sum, 1e-30);
    }
  }
}

void check_matmul(GGMLType type, uint32_t M, uint32_t K, uint32_t T, uint32_t seed,
                  bool offsets = false) {
  const QWeights w = make_weights(type, M, K, seed);
  const auto x = test::random_floats(size_t(T) * K, seed + 1);
  std::vector<float> want;
  std::vector<double> mag;
  reference(w.values, x, M, K, T, want, mag);

  const uint64_t align = std::max<uint64_t>(test::context().info().min_storage_offset_alignment, 4);
  const uint64_t w_off = offsets ? align_up(100, align) : 0;
  const uint64_t x_off = offsets ? align : 0;
  const uint64_t y_off = offsets ? 2 * align : 0;
  const uint64_t y_bytes = uint64_t(T) * M * 4;
  rt::Buffer dw = upload_at(w.bytes.data(), w.bytes.size(), w_off);
  rt::Buffer dx = upload_at(x.data(), x.size() * 4, x_off);

  // The as-stored kernels through storage buffers, and where the device has them through texel
  // buffers (matvec_<fmt>_texel; Q4_0/Q8_0 weights are planar there in models, as stored here).
  for (bool texel : {false, true}) {
    if (texel && !test::context().info().texel_buffers) continue;
    rt::Buffer dy = test::poisoned(y_off + y_bytes);
    Ops ops(test::context());
    ops.set_texel_kernels(texel);
    test::run([&](rt::Sequence& s) {
      ops.matmul(s, type, {dw, w_off, w.bytes.size()}, {dx, x_off, x.size() * 4},
                 {dy, y_off, y_bytes}, M, K, T);
    });
    std::vector<float> all = test::download<float>(dy, (y_off + y_bytes) / 4);
    std::vector<float> got(all.begin() + y_off / 4, all.end());
    check_scaled(got, want, mag, 1e-5,
                 type_name(type) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                     " T=" + std::to_string(T) + (offsets ? " (offsets)" : "") +
                     (texel ? " (texel buffers)" : ""));
  }
}

}  // namespace

TEST_CASE("matmul: quantized weights, odd row counts, 1..3 blocks, T = 1, 3, 17") {
  uint32_t seed = 1000;
  for (GGMLType type : kFormats) {
    const auto q = quant_kernel_format(type);
    REQUIRE(q.has_value());
    for (uint32_t M : {1u, 7u, 33u, 257u}) {
      for (uint32_t blocks : {1u, 2u, 3u}) {
        for (uint32_t T : {1u, 3u, 17u}) check_matmul(type, M, blocks * q->block, T, ++seed);
      }
    }
    test::check_no_validation_messages();
  }
}

TEST_CASE("matmul: quantized weights bound at non-zero offsets") {
  for (GGMLType type : {GGMLType::Q8_0, GGMLType::Q4_0, GGMLType::Q6_K, GGMLType::Q3_K}) {
    const uint32_t K = 2 * quant_kernel_format(type)->block;
    check_matmul(type, 19, K, 1, 2001, true);
    check_matmul(type, 19, K, 5, 2002, true);
  }
  test::check_no_validation_messages();
}

// Ops picks one reduction and one shape per device and T; others are dispatched directly.
TEST_CASE("matmul: quantized matvec in other workgroup shapes") {
  auto& ctx = test::context();
  for (GGMLType type : {GGMLType::Q5_0, GGMLType::Q6_K}) {
    const auto q = quant_kernel_format(type);
    const uint32_t M = 37, K = 2 * q->block, T = 6;
    const QWeights w = make_weights(type, M, K, 3001);
    const auto x = test::random_floats(size_t(T) * K, 3002);
    std::vector<float> want;
    std::vector<double> mag;
    reference(w.values, x, M, K, T, want, mag);
    std::vector<uint8_t> wb = w.bytes;
    wb.resize(wb.size() + 4, 0xFF);
    rt::Buffer dw = test::upload(wb), dx = test::upload(x);
    // {variant, workgroup size, rows, tokens per workgroup}; few, as each pipeline costs an LLVM
    // compile.
    const std::string mv = std::string("matvec_") + q->glsl;
    std::vector<std::tuple<std::string, uint32_t, uint32_t, uint32_t>> configs = {{mv, 32, 3, 4},
                                                                                  {mv, 1, 1, 1}};
    if (ctx.info().subgroup_arithmetic) configs.emplace_back(mv + "_subgroup", 32, 3, 5);
    for (const auto& [name, wg, rows, nt] : configs) {
      if (wg > ctx.info().max_workgroup_size[0]) continue;
      rt::Buffer dy = test::poisoned(size_t(T) * M * 4);
      struct {
        uint32_t M, K, T;
      } push{M, K, T};
      const auto& p = ctx.pipeline({name, 3, sizeof(push), {wg, rows, nt}});
      const uint32_t groups = (M + rows - 1) / rows * ((T + nt - 1) / nt);
      test::run([&](rt::Sequence& s) { s.dispatch(p, {dw, dx, dy}, push, {groups, 1, 1}); });
      check_scaled(test::download<float>(dy, size_t(T) * M), want, mag, 1e-5,
                   name + " wg=" + std::to_string(wg) + " rows=" + std::to_string(rows) +
                       " NT=" + std::to_string(nt));
    }
  }
  test::check_no_validation_messages();
}

// Planar weights (quant/repack.h) through matvec_t_*, repacked on the CPU as the
// loader does, at zero and non-zero offsets; M = 257 spans several row tiles.
static void check_planar(GGMLType type, uint32_t M, uint32_t K, uint32_t T, uint32_t seed,
                         bool offsets, bool lanes) {
  const QWeights w = make_weights(type, M, K, seed);
  const auto x = test::random_floats(size_t(T) * K, seed + 1);
  std::vector<float> want;
  std::vector<double> mag;
  reference(w.values, x, M, K, T, want, mag);

  Ops ops(test::context());
  ops.set_texel_kernels(true);
  ops.set_texel_lanes(lanes);
  const auto& info = test::context().info();
  const uint64_t align =
      std::max<uint64_t>({info.min_storage_offset_alignment, info.min_texel_offset_alignment, 4});
  const PlanarShape ps = planar_shape(type, M, K, ops.planar_params(type));
  std::vector<uint8_t> planar(ps.total_bytes);
  repack_planar(type, w.bytes, M, K, ops.planar_params(type), planar);
  const uint64_t w_off = offsets ? align_up(100, ops.planar_alignment()) : 0;
  const uint64_t x_off = offsets ? align : 0;
  const uint64_t y_off = offsets ? 2 * align : 0;
  const uint64_t y_bytes = uint64_t(T) * M * 4;
  rt::Buffer dw = upload_at(planar.data(), planar.size(), w_off);
  rt::Buffer dx = upload_at(x.data(), x.size() * 4, x_off);
  rt::Buffer dy = test::poisoned(y_off + y_bytes);
  test::run([&](rt::Sequence& s) {
    ops.matmul(s, type, {dw, w_off, planar.size()}, {dx, x_off, x.size() * 4}, {dy, y_off, y_bytes},
               M, K, T, WeightLayout::Planar);
  });
  std::vector<float> all = test::download<float>(dy, (y_off + y_bytes) / 4);
  std::vector<float> got(all.begin() + y_off / 4, all.end());
  check_scaled(got, want, mag, 1e-5,
               "planar " + type_name(type) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                   " T=" + std::to_string(T) + (offsets ? " (offsets)" : ""));
}

TEST_CASE("matmul: every planar format through the texel kernels") {
  if (!test::context().info().texel_buffers) return;
  uint32_t seed = 4000;
  for (GGMLType type :
       {GGMLType::Q4_0, GGMLType::Q8_0, GGMLType::F16, GGMLType::BF16, GGMLType::Q4_1,
        GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::IQ4_NL, GGMLType::Q4_K, GGMLType::Q5_K,
        GGMLType::Q6_K, GGMLType::Q3_K, GGMLType::Q2_K, GGMLType::IQ4_XS}) {
    REQUIRE(has_planar_layout(type));
    const uint32_t block = weight_format(type)->block_size == 256 ? 256 : 32;
    for (uint32_t M : {1u, 7u, 33u, 257u}) {
      for (uint32_t blocks : {1u, 2u, 3u, 24u}) {
        if (block == 256 && blocks == 24) continue;  // K = 6144: long for the CPU reference
        for (uint32_t T : {1u, 3u, 17u}) {
          ++seed;
          for (bool lanes : {true, false})
            check_planar(type, M, blocks * block, T, seed, false, lanes);
        }
      }
    }
    for (bool lanes : {true, false}) {
      check_planar(type, 19, 2 * block, 1, ++seed, true, lanes);
      check_planar(type, 19, 2 * block, 6, ++seed, true, lanes);
    }
    test::check_no_validation_messages();
  }
}

TEST_CASE("matmul: planar weights without the texel kernels are refused") {
  Ops ops(test::context());
  ops.set_texel_kernels(false);
  rt::Buffer b = test::upload(std::vector<float>(4096, 1.0f));
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_WITH_AS(ops.matmul(seq, GGMLType::Q4_0, b, b, b, 2, 64, 1, WeightLayout::Planar),
                       doctest::Contains("planar Q4_0"), std::invalid_argument);
  seq.end();
  CHECK(ops.weight_layout(GGMLType::Q4_0, 64, 64) == WeightLayout::AsStored);
  ops.set_texel_kernels(true);
  if (test::context().info().texel_buffers) {
    CHECK(ops.weight_layout(GGMLType::Q4_0, 64, 64) == WeightLayout::Planar);
    CHECK(ops.weight_layout(GGMLType::Q8_0, 64, 48) == WeightLayout::AsStored);  // K % 32
    CHECK(ops.weight_layout(GGMLType::Q4_K, 64, 256) == WeightLayout::Planar);
    CHECK(ops.weight_layout(GGMLType::Q5_K, 64, 256) == WeightLayout::Planar);
    CHECK(ops.weight_layout(GGMLType::Q6_K, 64, 512) == WeightLayout::Planar);
    CHECK(ops.weight_layout(GGMLType::Q3_K, 64, 256) == WeightLayout::Planar);
    CHECK(ops.weight_layout(GGMLType::Q2_K, 64, 768) == WeightLayout::Planar);
    // Without planar_larger only the forms no larger than the file are repacked.
    KernelTuning t = ops.tuning();
    t.planar_larger = false;
    Ops small(test::context(), t);
    for (GGMLType type : {GGMLType::Q4_0, GGMLType::Q8_0, GGMLType::F16, GGMLType::BF16})
      CHECK(small.weight_layout(type, 64, 256) == WeightLayout::Planar);
    for (GGMLType type :
         {GGMLType::Q4_1, GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::IQ4_NL, GGMLType::Q4_K,
          GGMLType::Q5_K, GGMLType::Q6_K, GGMLType::Q3_K, GGMLType::Q2_K, GGMLType::IQ4_XS}) {
      CHECK(planar_larger(type));
      CHECK(small.weight_layout(type, 64, 256) == WeightLayout::AsStored);
    }
  }
  CHECK(ops.weight_layout(GGMLType::IQ2_XXS, 64, 256) == WeightLayout::AsStored);  // no planar form
  test::check_no_validation_messages();
}

TEST_CASE("matmul: quantized weights need K a multiple of the block; range checks") {
  Ops ops(test::context());
  rt::Buffer b = test::upload(std::vector<float>(4096, 1.0f));
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_WITH_AS(ops.matmul(seq, GGMLType::Q4_0, b, b, b, 2, 48, 1),
                       doctest::Contains("Q4_0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ops.matmul(seq, GGMLType::Q4_K, b, b, b, 2, 128, 3),
                       doctest::Contains("Q4_K"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ops.matmul(seq, GGMLType::IQ2_XXS, b, b, b, 2, 256, 1),
                       doctest::Contains("IQ2_XXS"), std::invalid_argument);
  // 18-byte Q4_0 blocks: 3 rows of 1 block end mid-word, with no padding in the buffer.
  rt::Buffer small = test::upload(std::vector<uint8_t>(54, 0));
  CHECK_THROWS_WITH_AS(ops.matmul(seq, GGMLType::Q4_0, small, b, b, 3, 32, 1),
                       doctest::Contains("padding"), std::invalid_argument);
  CHECK_THROWS_AS(ops.matmul(seq, GGMLType::Q8_0, b, b, b, 1000, 256, 1), std::invalid_argument);
  seq.end();
  test::check_no_validation_messages();
}

// The deferred RMSNorm of the texel kernels (Ops::NormIn / NormOut), planar Q4_0/Q8_0/F16 and
// row-major F32, rows per invocation and the K split.
namespace {

struct DeviceWeights {
  QWeights w;
  rt::Buffer buffer;
  WeightLayout layout;
};

DeviceWeights device_weights(const Ops& ops, GGMLType type, uint32_t M, uint32_t K, uint32_t seed) {
  QWeights w = make_weights(type, M, K, seed);
  const WeightLayout layout =
      has_planar_layout(type) ? WeightLayout::Planar : WeightLayout::AsStored;
  std::vector<uint8_t> bytes = w.bytes;
  if (layout == WeightLayout::Planar) {
    const PlanarParams pp = ops.planar_params(type);
    bytes.assign(planar_shape(type, M, K, pp).total_bytes, 0);
    repack_planar(type, w.bytes, M, K, pp, bytes);
  }
  rt::Buffer b = test::upload(bytes);
  return {std::move(w), std::move(b), layout};
}

std::string shape_name(GGMLType type, uint32_t M, uint32_t K, uint32_t T, bool lanes) {
  return type_name(type) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
         " T=" + std::to_string(T) + (lanes ? " (rows per invocation)" : " (K split)");
}

// NormOut: sum = residual + W x, y = weight * sum, and per token partials adding up to the sum of
// sum^2 (every partial written: the buffer is poisoned).
void check_norm_out(GGMLType type, uint32_t M, uint32_t K, uint32_t T, uint32_t seed, bool lanes) {
  Ops ops(test::context());
  ops.set_texel_kernels(true);
  ops.set_texel_lanes(lanes);
  const std::string what = shape_name(type, M, K, T, lanes);
  REQUIRE_MESSAGE(
      ops.norm_fusable(
          type, has_planar_layout(type) ? WeightLayout::Planar : WeightLayout::AsStored, M, K),
      what);
  const DeviceWeights dw = device_weights(ops, type, M, K, seed);
  const auto x = test::random_floats(size_t(T) * K, seed + 1);
  const auto res = test::random_floats(size_t(T) * M, seed + 2, -4.0f, 4.0f);
  const auto g = test::random_floats(M, seed + 3, 0.5f, 1.5f);
  std::vector<float> dots;
  std::vector<double> mag;
  reference(dw.w.values, x, M, K, T, dots, mag);
  std::vector<float> sum(dots.size()), normed(dots.size());
  std::vector<double> sum_mag(dots.size()), normed_mag(dots.size()), ss(T, 0.0), ss_mag(T, 0.0);
  for (uint32_t t = 0; t < T; ++t) {
    for (uint32_t m = 0; m < M; ++m) {
      const size_t i = size_t(t) * M + m;
      const double s = double(res[i]) + dots[i];
      sum[i] = float(s);
      normed[i] = float(s * g[m]);
      sum_mag[i] = mag[i] + std::fabs(res[i]);
      normed_mag[i] = sum_mag[i] * g[m];
      ss[t] += s * s;
      ss_mag[t] += 2.0 * std::fabs(s) * sum_mag[i];
    }
  }
  const uint32_t P = ops.norm_partials(type, dw.layout, M, T);
  REQUIRE(P >= 1);
  rt::Buffer dx = test::upload(x), dres = test::upload(res), dg = test::upload(g);
  rt::Buffer dy = test::poisoned(sum.size() * 4), dsum = test::poisoned(sum.size() * 4);
  rt::Buffer dpart = test::poisoned(size_t(T) * P * 4);
  const Ops::NormOut no{dres, dg, dsum, dpart};
  test::run([&](rt::Sequence& s) {
    ops.matmul(s, type, dw.buffer, dx, dy, M, K, T, dw.layout, false, nullptr, &no);
  });
  check_scaled(test::download<float>(dsum, sum.size()), sum, sum_mag, 1e-5, "NormOut sum " + what);
  check_scaled(test::download<float>(dy, sum.size()), normed, normed_mag, 1e-5,
               "NormOut weight * sum " + what);
  const auto part = test::download<float>(dpart, size_t(T) * P);
  std::vector<float> got_ss(T, 0.0f), want_ss(T);
  for (uint32_t t = 0; t < T; ++t) {
    for (uint32_t i = 0; i < P; ++i) got_ss[t] += part[size_t(t) * P + i];
    want_ss[t] = float(ss[t]);
  }
  check_scaled(got_ss, want_ss, ss_mag, 1e-5, "NormOut partials " + what);
}

// NormIn: x is weight * s given with `count` partials per token adding up to S; each token's sums
// are scaled by 1 / sqrt(S / K + eps) before the GLU (glu: rows are gate/up pairs).
// (The deferred norm is for one token; T stays a parameter of the reference.)
void check_norm_in(GGMLType type, uint32_t M, uint32_t K, uint32_t T, uint32_t seed, bool lanes,
                   bool glu) {
  Ops ops(test::context());
  ops.set_texel_kernels(true);
  ops.set_texel_lanes(lanes);
  const std::string what = shape_name(type, M, K, T, lanes) + (glu ? " glu" : "");
  const DeviceWeights dw = device_weights(ops, type, M, K, seed);
  const auto x = test::random_floats(size_t(T) * K, seed + 1);
  const uint32_t count = 8;
  const auto part = test::random_floats(size_t(T) * count, seed + 2, 1.0f, float(K));
  const float eps = 1e-5f;
  std::vector<float> dots;
  std::vector<double> mag;
  reference(dw.w.values, x, M, K, T, dots, mag);
  const uint32_t out_cols = glu ? M / 2 : M;
  std::vector<float> want(size_t(T) * out_cols);
  std::vector<double> want_mag(want.size());
  for (uint32_t t = 0; t < T; ++t) {
    double S = 0.0;
    for (uint32_t i = 0; i < count; ++i) S += part[size_t(t) * count + i];
    const double r = 1.0 / std::sqrt(S / K + eps);
    for (uint32_t j = 0; j < out_cols; ++j) {
      if (!glu) {
        want[size_t(t) * M + j] = float(dots[size_t(t) * M + j] * r);
        want_mag[size_t(t) * M + j] = mag[size_t(t) * M + j] * r;
        continue;
      }
      const double gt = dots[size_t(t) * M + 2 * j] * r, u = dots[size_t(t) * M + 2 * j + 1] * r;
      want[size_t(t) * out_cols + j] = float(gt / (1.0 + std::exp(-gt)) * u);
      want_mag[size_t(t) * out_cols + j] =
          1.1 * std::fabs(u) * mag[size_t(t) * M + 2 * j] * r +
          (std::fabs(gt) + 1.0) * mag[size_t(t) * M + 2 * j + 1] * r;
    }
  }
  rt::Buffer dx = test::upload(x), dpart = test::upload(part);
  rt::Buffer dy = test::poisoned(want.size() * 4);
  const Ops::NormIn ni{dpart, count, eps};
  test::run([&](rt::Sequence& s) {
    ops.matmul(s, type, dw.buffer, dx, dy, M, K, T, dw.layout, glu, &ni, nullptr);
  });
  check_scaled(test::download<float>(dy, want.size()), want, want_mag, 1e-5, "NormIn " + what);
}

}  // namespace

TEST_CASE("matmul: deferred RMSNorm epilogue (NormOut) and prologue (NormIn)") {
  if (!test::context().info().texel_buffers) return;
  uint32_t seed = 6000;
  for (GGMLType type : {GGMLType::Q4_0, GGMLType::Q8_0, GGMLType::F16, GGMLType::F32}) {
    for (bool lanes : {true, false}) {
      // The epilogue and prologue do not depend on the weight type: the K split (each variant one
      // more LLVM compile on lavapipe) is checked with one planar and one row-major type.
      if (!lanes && type != GGMLType::Q4_0 && type != GGMLType::F32) continue;
      {
        Ops ops(test::context());
        ops.set_texel_kernels(true);
        ops.set_texel_lanes(lanes);
        const WeightLayout layout =
            has_planar_layout(type) ? WeightLayout::Planar : WeightLayout::AsStored;
        if (!ops.norm_fusable(type, layout, 64, 64)) continue;  // K split without subgroups
      }
      for (const auto& [M, K, T] : {std::array<uint32_t, 3>{1, 32, 1},
                                    {37, 64, 1},
                                    {257, 96, 1},
                                    {70, 32, 1},
                                    {130, 64, 1},
                                    {768, 64, 1}}) {
        check_norm_out(type, M, K, T, seed += 10, lanes);
        check_norm_in(type, M, K, T, seed += 10, lanes, false);
        if (M % 2 == 0) check_norm_in(type, M, K, T, seed += 10, lanes, true);
      }
    }
    test::check_no_validation_messages();
  }
}

TEST_CASE("matmul: the deferred norm is refused where it cannot run") {
  Ops ops(test::context());
  ops.set_texel_kernels(false);
  CHECK_FALSE(ops.norm_fusable(GGMLType::Q4_0, WeightLayout::AsStored, 64, 64));
  rt::Buffer b = test::upload(std::vector<float>(256, 1.0f));
  const Ops::NormIn ni{b, 1, 1e-5f};
  rt::Sequence seq(test::context());
  seq.begin();
  const Ops::NormIn ni4{b, 4, 1e-5f};
  CHECK_THROWS_WITH_AS(
      ops.matmul(seq, GGMLType::F32, b, b, b, 2, 32, 1, WeightLayout::AsStored, false, &ni4),
      doctest::Contains("deferred norm"), std::invalid_argument);
  ops.set_texel_kernels(true);
  ops.set_texel_lanes(true);
  if (ops.norm_fusable(GGMLType::F32, WeightLayout::AsStored, 2, 32)) {
    // More than one token, or a partial count that is not a multiple of 4.
    CHECK_THROWS_WITH_AS(
        ops.matmul(seq, GGMLType::F32, b, b, b, 2, 32, 2, WeightLayout::AsStored, false, &ni4),
        doctest::Contains("one token"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        ops.matmul(seq, GGMLType::F32, b, b, b, 2, 32, 1, WeightLayout::AsStored, false, &ni),
        doctest::Contains("multiple of 4"), std::invalid_argument);
  }
  seq.end();
  test::check_no_validation_messages();
}
