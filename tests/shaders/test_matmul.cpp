// matvec.comp and matmul.comp against a scalar double-precision reference, for F32 and F16
// weights. Errors are measured relative to the row's sum of |w * x|, so cancellation in the dot
// product cannot cause false failures.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "graph/ops.h"
#include "quant/half.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

struct Weights {
  std::vector<float> values;   // as the kernel sees them (f16-rounded for F16)
  std::vector<uint8_t> bytes;  // as stored in the buffer
};

Weights make_weights(GGMLType type, uint32_t M, uint32_t K, uint32_t seed) {
  Weights w;
  w.values = test::random_floats(size_t(M) * K, seed);
  if (type == GGMLType::F16) {
    std::vector<uint16_t> h(w.values.size());
    for (size_t i = 0; i < h.size(); ++i) {
      h[i] = fp32_to_fp16(w.values[i]);
      w.values[i] = fp16_to_fp32(h[i]);
    }
    w.bytes.resize(h.size() * 2);
    std::memcpy(w.bytes.data(), h.data(), w.bytes.size());
  } else {
    w.bytes.resize(w.values.size() * 4);
    std::memcpy(w.bytes.data(), w.values.data(), w.bytes.size());
  }
  return w;
}

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

// A buffer holding `bytes` at `offset`, with 0xFF garbage before it.
rt::Buffer upload_at(const void* data, uint64_t bytes, uint64_t offset) {
  std::vector<uint8_t> all(offset + bytes, 0xFF);
  std::memcpy(all.data() + offset, data, bytes);
  return test::upload(all);
}

// Reference y and the per-element error scale sum_k |w x|.
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

// Checks |got - want| <= rel * sum|w x| per element (NaN fails).
void check_scaled(const std::vector<float>& got, const std::vector<float>& want,
                  const std::vector<double>& mag, double rel, const std::string& what) {
  std::vector<float> g(got.size()), w(want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    g[i] = float(got[i] / mag[i]);
    w[i] = float(want[i] / mag[i]);
  }
  test::check_close(g, w, rel, 1.0, what);
}

// kernels: 0 storage-buffer kernels, 1 texel kernels with rows per invocation, 2 texel kernels
// with the K split.
void check_matmul_with(int kernels, GGMLType type, uint32_t M, uint32_t K, uint32_t T,
                       uint32_t seed, bool offsets) {
  const bool texel = kernels != 0;
  const Weights w = make_weights(type, M, K, seed);
  const auto x = test::random_floats(size_t(T) * K, seed + 1);
  std::vector<float> want;
  std::vector<double> mag;
  reference(w.values, x, M, K, T, want, mag);

  const auto& info = test::context().info();
  const uint64_t align = std::max<uint64_t>(
      {info.min_storage_offset_alignment, texel ? info.min_texel_offset_alignment : 1, 4});
  const uint64_t w_off = offsets ? align_up(100, align) : 0;
  const uint64_t x_off = offsets ? align : 0;
  const uint64_t y_off = offsets ? 2 * align : 0;
  const uint64_t y_bytes = uint64_t(T) * M * 4;
  rt::Buffer dw = upload_at(w.bytes.data(), w.bytes.size(), w_off);
  rt::Buffer dx = upload_at(x.data(), x.size() * 4, x_off);
  rt::Buffer dy = test::poisoned(y_off + y_bytes);

  Ops ops(test::context());
  ops.set_texel_kernels(texel);
  ops.set_texel_lanes(kernels == 1);
  test::run([&](rt::Sequence& s) {
    ops.matmul(s, type, {dw, w_off, w.bytes.size()}, {dx, x_off, x.size() * 4},
               {dy, y_off, y_bytes}, M, K, T);
  });
  std::vector<float> all = test::download<float>(dy, (y_off + y_bytes) / 4);
  std::vector<float> got(all.begin() + y_off / 4, all.end());
  check_scaled(got, want, mag, 1e-5,
               type_name(type) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                   " T=" + std::to_string(T) +
                   (kernels == 1   ? " (texel, rows per invocation)"
                    : kernels == 2 ? " (texel, K split)"
                                   : ""));
  test::check_no_validation_messages();
}

// Each shape through the storage-buffer kernels and, where the device has texel buffers, the
// texel kernels (matvec_t_*: K a multiple of 32; other K fall back to the storage kernels).
void check_matmul(GGMLType type, uint32_t M, uint32_t K, uint32_t T, uint32_t seed,
                  bool offsets = false) {
  check_matmul_with(0, type, M, K, T, seed, offsets);
  if (!test::context().info().texel_buffers) return;
  check_matmul_with(1, type, M, K, T, seed, offsets);
  check_matmul_with(2, type, M, K, T, seed, offsets);
}

const uint32_t kShapes[][3] = {{1, 2, 1},      {7, 34, 1},     {33, 66, 3},   {4097, 64, 1},
                               {65, 4098, 1},  {129, 130, 17}, {300, 288, 2}, {70, 96, 100},
                               {7, 32, 1},     {33, 96, 3},    {1, 64, 5},    {257, 4096, 1},
                               {129, 160, 17}, {37, 128, 64}};

}  // namespace

TEST_CASE("matmul: F32 weights, odd shapes") {
  uint32_t seed = 1;
  for (const auto& s : kShapes) check_matmul(GGMLType::F32, s[0], s[1], s[2], seed += 10);
  check_matmul(GGMLType::F32, 5, 33, 1, 7);  // odd K
  check_matmul(GGMLType::F32, 37, 21, 9, 8);
}

TEST_CASE("matmul: F16 weights, odd shapes") {
  uint32_t seed = 2;
  for (const auto& s : kShapes) check_matmul(GGMLType::F16, s[0], s[1], s[2], seed += 10);
}

TEST_CASE("matmul: ranges bound at non-zero offsets") {
  check_matmul(GGMLType::F32, 33, 66, 1, 101, true);
  check_matmul(GGMLType::F32, 33, 66, 5, 102, true);
  check_matmul(GGMLType::F16, 19, 46, 1, 103, true);
  check_matmul(GGMLType::F16, 19, 46, 70, 104, true);
}

TEST_CASE("matmul: large M and T cover the dispatch") {
  check_matmul(GGMLType::F16, 32000, 8, 1, 201);
  check_matmul(GGMLType::F32, 32000, 4, 512, 202);
  check_matmul(GGMLType::F16, 1001, 6, 513, 203);
}

// Ops picks the subgroup matvec where the device has subgroup arithmetic; the shared-memory
// reduction is checked here by dispatching both variants directly.
TEST_CASE("matvec: shared-memory and subgroup reductions") {
  auto& ctx = test::context();
  const uint32_t M = 77, K = 258;
  for (GGMLType type : {GGMLType::F32, GGMLType::F16}) {
    const Weights w = make_weights(type, M, K, 301);
    const auto x = test::random_floats(K, 302);
    std::vector<float> want;
    std::vector<double> mag;
    reference(w.values, x, M, K, 1, want, mag);
    rt::Buffer dw = test::upload(w.bytes), dx = test::upload(x);
    const std::string base = type == GGMLType::F16 ? "matvec_f16" : "matvec_f32";
    std::vector<std::string> names = {base};
    if (ctx.info().subgroup_arithmetic) names.push_back(base + "_subgroup");
    for (const std::string& name : names) {
      for (uint32_t wg : {1u, 8u, 32u, 64u}) {
        for (uint32_t rows : {1u, 3u, 8u}) {
          if (wg > ctx.info().max_workgroup_size[0]) continue;
          rt::Buffer dy = test::poisoned(M * 4);
          struct {
            uint32_t M, K;
          } push{M, K};
          const auto& p = ctx.pipeline({name, 3, sizeof(push), {wg, rows}});
          test::run([&](rt::Sequence& s) {
            s.dispatch(p, {dw, dx, dy}, push, {(M + rows - 1) / rows, 1, 1});
          });
          check_scaled(test::download<float>(dy, M), want, mag, 1e-5,
                       name + " wg=" + std::to_string(wg) + " rows=" + std::to_string(rows));
        }
      }
    }
  }
  test::check_no_validation_messages();
}

// Ops picks matmul_rows on CPU devices and the shared-tile matmul elsewhere; the one Ops does not
// pick here is checked by dispatching it directly, in the shapes Ops would choose.
TEST_CASE("matmul: both batch kernels in several tile shapes") {
  auto& ctx = test::context();
  const bool cpu = ctx.info().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const uint32_t shapes[][3] = {{70, 34, 3}, {129, 130, 17}, {33, 258, 70}};
  for (GGMLType type : {GGMLType::F32, GGMLType::F16}) {
    for (const auto& shape : shapes) {
      const uint32_t M = shape[0], K = shape[1], T = shape[2];
      const Weights w = make_weights(type, M, K, M + K);
      const auto x = test::random_floats(size_t(T) * K, T);
      std::vector<float> want;
      std::vector<double> mag;
      reference(w.values, x, M, K, T, want, mag);
      rt::Buffer dw = test::upload(w.bytes), dx = test::upload(x);
      struct {
        uint32_t M, K, T;
      } push{M, K, T};
      const std::string f = type == GGMLType::F16 ? "_f16" : "_f32";
      // {threads, BM, BN, BK} for matmul; {threads, rows per thread, BN, BK} for matmul_rows.
      const std::vector<std::pair<std::string, std::array<uint32_t, 4>>> configs =
          cpu ? std::vector<std::pair<std::string, std::array<uint32_t, 4>>>{{"matmul" + f,
                                                                              {64, 256, 4, 16}},
                                                                             {"matmul" + f,
                                                                              {64, 64, 16, 16}},
                                                                             {"matmul" + f,
                                                                              {64, 16, 64, 16}},
                                                                             {"matmul" + f,
                                                                              {128, 64, 32, 8}}}
              : std::vector<std::pair<std::string, std::array<uint32_t, 4>>>{
                    {"matmul_rows" + f, {64, 8, 8, 64}}, {"matmul_rows" + f, {16, 3, 32, 6}}};
      for (const auto& [name, c] : configs) {
        const bool rows = name.rfind("matmul_rows", 0) == 0;
        const uint32_t bm = rows ? c[0] * c[1] : c[1];
        const uint32_t blocks = ((M + bm - 1) / bm) * ((T + c[2] - 1) / c[2]);
        rt::Buffer dy = test::poisoned(size_t(T) * M * 4);
        const auto& p = ctx.pipeline({name, 3, sizeof(push), {c[0], c[1], c[2], c[3]}});
        test::run([&](rt::Sequence& s) { s.dispatch(p, {dw, dx, dy}, push, {blocks, 1, 1}); });
        check_scaled(test::download<float>(dy, size_t(T) * M), want, mag, 1e-5,
                     name + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                         " T=" + std::to_string(T) + " BN=" + std::to_string(c[2]));
      }
    }
  }
  test::check_no_validation_messages();
}

TEST_CASE("matmul: bad arguments throw") {
  Ops ops(test::context());
  rt::Buffer b = test::upload(std::vector<float>(64, 1.0f));
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_AS(ops.matmul(seq, GGMLType::IQ2_XXS, b, b, b, 2, 32, 1), std::invalid_argument);
  CHECK_THROWS_WITH(ops.matmul(seq, GGMLType::IQ2_XXS, b, b, b, 2, 32, 1),
                    doctest::Contains("IQ2_XXS"));
  CHECK_THROWS_AS(ops.matmul(seq, GGMLType::F16, b, b, b, 2, 7, 1), std::invalid_argument);
  CHECK_THROWS_AS(ops.matmul(seq, GGMLType::F32, b, b, b, 100, 100, 1), std::invalid_argument);
  seq.end();
  test::check_no_validation_messages();
}

// The fused SwiGLU of the texel kernels: W's rows 2j, 2j + 1 are gate and up rows and
// y[t, j] = silu(gate . x_t) * (up . x_t).
TEST_CASE("matmul: fused gate/up SwiGLU (texel kernels)") {
  if (!test::context().info().texel_buffers) return;
  uint32_t seed = 700;
  for (GGMLType type : {GGMLType::F32, GGMLType::F16}) {
    for (const auto& [M, K, T] : {std::array<uint32_t, 3>{2, 32, 1},
                                  {34, 64, 1},
                                  {344, 64, 3},
                                  {18, 96, 17},
                                  {2 * 129, 32, 9}}) {
      const Weights w = make_weights(type, M, K, ++seed);
      const auto x = test::random_floats(size_t(T) * K, ++seed, -2.0f, 2.0f);
      std::vector<float> dots;
      std::vector<double> mag;
      reference(w.values, x, M, K, T, dots, mag);
      std::vector<float> want(size_t(T) * M / 2);
      std::vector<double> want_mag(want.size());
      for (uint32_t t = 0; t < T; ++t) {
        for (uint32_t j = 0; j < M / 2; ++j) {
          const double g = dots[size_t(t) * M + 2 * j], u = dots[size_t(t) * M + 2 * j + 1];
          want[size_t(t) * M / 2 + j] = float(g / (1.0 + std::exp(-g)) * u);
          // silu(g) * u moves by at most ~1.1 |u| dg + |silu(g)| du.
          want_mag[size_t(t) * M / 2 + j] = 1.1 * std::fabs(u) * mag[size_t(t) * M + 2 * j] +
                                            (std::fabs(g) + 1.0) * mag[size_t(t) * M + 2 * j + 1];
        }
      }
      Ops ops(test::context());
      ops.set_texel_kernels(true);
      for (WeightLayout layout : {WeightLayout::AsStored, WeightLayout::Planar}) {
        if (layout == WeightLayout::Planar && !has_planar_layout(type)) continue;
        std::vector<uint8_t> bytes = w.bytes;
        if (layout == WeightLayout::Planar) {
          const PlanarParams pp = ops.planar_params(type);
          bytes.assign(planar_shape(type, M, K, pp).total_bytes, 0);
          repack_planar(type, w.bytes, M, K, pp, bytes);
        }
        rt::Buffer dw = test::upload(bytes), dx = test::upload(x);
        rt::Buffer dy = test::poisoned(want.size() * 4);
        REQUIRE(ops.glu_supported(type, layout, M, K));
        test::run([&](rt::Sequence& s) { ops.matmul(s, type, dw, dx, dy, M, K, T, layout, true); });
        check_scaled(test::download<float>(dy, want.size()), want, want_mag, 1e-5,
                     "glu " + type_name(type) + (layout == WeightLayout::Planar ? " planar" : "") +
                         " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                         " T=" + std::to_string(T));
      }
    }
  }
  Ops ops(test::context());
  ops.set_texel_kernels(true);
  CHECK_FALSE(ops.glu_supported(GGMLType::F32, WeightLayout::AsStored, 7, 32));  // odd M
  CHECK_FALSE(ops.glu_supported(GGMLType::Q4_K, WeightLayout::AsStored, 8, 256));
  test::check_no_validation_messages();
}

// Ops dispatches matvec_t_* in a few shapes; the shared-memory reduction, the multi-subgroup path
// and other rows-per-invocation shapes are checked by dispatching the variants directly, with and
// without GLU.
TEST_CASE("matvec_t: reductions and rows per invocation in several shapes, with and without GLU") {
  auto& ctx = test::context();
  if (!ctx.info().texel_buffers) return;
  const uint32_t M = 38, K = 96, T = 5;
  const Weights w = make_weights(GGMLType::F32, M, K, 801);
  const auto x = test::random_floats(size_t(T) * K, 802);
  std::vector<float> dots;
  std::vector<double> mag;
  reference(w.values, x, M, K, T, dots, mag);
  rt::Buffer dw = test::upload(w.bytes), dx = test::upload(x);
  std::vector<std::string> names = {"matvec_t_f32", "matvec_t_f32_lanes"};
  if (ctx.info().subgroup_arithmetic) names.push_back("matvec_t_f32_subgroup");
  for (const std::string& name : names) {
    const bool lanes = name.find("lanes") != std::string::npos;
    for (uint32_t glu : {0u, 1u}) {
      for (const auto& [wg, rows, nt] :
           {std::array<uint32_t, 3>{1, 2, 1}, {8, 4, 3}, {32, 2, 2}, {64, 6, 1}}) {
        if (wg > ctx.info().max_workgroup_size[0]) continue;
        const uint32_t rows_wg = lanes ? wg * rows : rows;
        const size_t n_out = size_t(T) * (glu ? M / 2 : M);
        std::vector<float> want(n_out);
        std::vector<double> want_mag(n_out);
        for (size_t i = 0; i < n_out; ++i) {
          if (!glu) {
            want[i] = dots[i];
            want_mag[i] = mag[i];
            continue;
          }
          const size_t t = i / (M / 2), j = i % (M / 2);
          const double g = dots[t * M + 2 * j], u = dots[t * M + 2 * j + 1];
          want[i] = float(g / (1.0 + std::exp(-g)) * u);
          want_mag[i] = 1.1 * std::fabs(u) * mag[t * M + 2 * j] +
                        (std::fabs(g) + 1.0) * mag[t * M + 2 * j + 1];
        }
        rt::Buffer dy = test::poisoned(n_out * 4);
        // The rows-per-invocation and subgroup variants also take the deferred norm: mode 0
        // (plain), its four storage bindings aliasing y and its texel binding x.
        const bool norm = name != "matvec_t_f32";
        struct {
          uint32_t M, K, T, glu, norm_mode, n_partials;
          float eps;
        } push{M, K, T, glu, 0, 0, 0.0f};
        const uint32_t push_bytes = norm ? 28 : 16;
        rt::PipelineDesc desc{name, norm ? 8u : 3u, push_bytes, {wg, rows, nt}, {}};
        desc.texel = {VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32G32B32A32_SFLOAT};
        std::vector<rt::BufferRange> binds = {dw, dx, dy};
        if (norm) {
          binds.insert(binds.end(), {dy, dy, dy, dy, dx});
          desc.texel.resize(8, VK_FORMAT_UNDEFINED);
          desc.texel[7] = VK_FORMAT_R32G32B32A32_SFLOAT;
        }
        const auto& p = ctx.pipeline(desc);
        const uint32_t groups = (M + rows_wg - 1) / rows_wg * ((T + nt - 1) / nt);
        test::run([&](rt::Sequence& s) {
          s.dispatch(p, binds, &push, push_bytes, {groups, 1, 1});
        });
        check_scaled(test::download<float>(dy, n_out), want, want_mag, 1e-5,
                     name + " wg=" + std::to_string(wg) + " rows=" + std::to_string(rows) +
                         " NT=" + std::to_string(nt) + " glu=" + std::to_string(glu));
      }
    }
  }
  test::check_no_validation_messages();
}
