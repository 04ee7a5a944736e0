// rms_norm.comp and rms_norm_rows.comp (one subgroup per row, rows of whole vec4s; tuning
// subgroup_norms) against a scalar double-precision reference. Every case runs both ways.
#include "attention_ref.h"

using namespace vkllm;

static void check_rms_norm(uint32_t n, uint32_t rows, float eps, uint32_t seed, float lo = -1.0f,
                           float hi = 1.0f) {
  auto x = test::random_floats(size_t(n) * rows, seed, lo, hi);
  auto w = test::random_floats(n, seed + 1, 0.5f, 1.5f);
  auto want = attn_ref::rms_norm(x, w, n, rows, eps);

  for (bool sg : {false, true}) {
    Ops ops(test::context());
    ops.set_subgroup_norms(sg);
    rt::Buffer dx = test::upload(x), dw = test::upload(w), dy = test::poisoned(x.size() * 4);
    test::run([&](rt::Sequence& s) { ops.rms_norm(s, dx, dw, dy, n, rows, eps); });
    test::check_close(test::download<float>(dy, x.size()), want, 1e-5, 1.0,
                      "rms_norm n=" + std::to_string(n) + " rows=" + std::to_string(rows) +
                          (sg ? " (subgroup rows)" : ""));
    test::check_no_validation_messages();
  }
}

TEST_CASE("rms_norm: odd row lengths, and lengths of whole vec4s") {
  for (uint32_t n : {1u, 7u, 33u, 4097u, 4u, 36u, 768u, 4100u}) check_rms_norm(n, 3, 1e-5f, n);
}

TEST_CASE("rms_norm: many rows, large eps, scaled inputs") {
  check_rms_norm(64, 37, 1e-6f, 11);
  check_rms_norm(288, 5, 1e-1f, 12, -0.01f, 0.01f);  // eps dominates
  check_rms_norm(100, 4, 1e-5f, 13, -100.0f, 100.0f);
}

TEST_CASE("rms_norm: in place") {
  const uint32_t n = 300, rows = 4;
  auto x = test::random_floats(n * rows, 21);
  auto w = test::random_floats(n, 22);
  auto want = attn_ref::rms_norm(x, w, n, rows, 1e-5f);
  for (bool sg : {false, true}) {
    Ops ops(test::context());
    ops.set_subgroup_norms(sg);
    rt::Buffer dx = test::upload(x), dw = test::upload(w);
    test::run([&](rt::Sequence& s) { ops.rms_norm(s, dx, dw, dx, n, rows, 1e-5f); });
    test::check_close(test::download<float>(dx, x.size()), want, 1e-5, 1.0, "rms_norm in place");
    test::check_no_validation_messages();
  }
}

// rms_norm_deferred: y = x * w unscaled and the row's sum of squares, then three zeros (4
// partials per row), which a NormIn product turns into the norm factor.
TEST_CASE("rms_norm_deferred: weighted input and one sum of squares per row") {
  for (const auto& [n, rows] :
       {std::pair<uint32_t, uint32_t>{1, 1}, {7, 3}, {300, 5}, {4097, 2}, {768, 1}, {4100, 3}})
    for (bool sg : {false, true}) {
      auto x = test::random_floats(size_t(n) * rows, n + rows, -2.0f, 2.0f);
      auto w = test::random_floats(n, n + 1, 0.5f, 1.5f);
      std::vector<float> want(x.size()), want_ss(4 * rows, 0.0f);
      for (uint32_t r = 0; r < rows; ++r) {
        double ss = 0.0;
        for (uint32_t i = 0; i < n; ++i) {
          const float v = x[size_t(r) * n + i];
          want[size_t(r) * n + i] = v * w[i];
          ss += double(v) * v;
        }
        want_ss[4 * r] = float(ss);
      }
      Ops ops(test::context());
      ops.set_subgroup_norms(sg);
      rt::Buffer dx = test::upload(x), dw = test::upload(w), dy = test::poisoned(x.size() * 4);
      rt::Buffer dp = test::poisoned(4 * rows * 4);
      test::run([&](rt::Sequence& s) { ops.rms_norm_deferred(s, dx, dw, dy, dp, n, rows); });
      const std::string what = "n=" + std::to_string(n) + " rows=" + std::to_string(rows) +
                               (sg ? " (subgroup rows)" : "");
      test::check_close(test::download<float>(dy, x.size()), want, 0.0, 1.0, "x * w " + what);
      test::check_close(test::download<float>(dp, 4 * rows), want_ss, 1e-5, 1.0,
                        "sum of squares " + what);
    }
  test::check_no_validation_messages();
}

static void check_add_rms_norm(uint32_t n, uint32_t rows, uint32_t seed) {
  auto x = test::random_floats(size_t(n) * rows, seed, -2.0f, 2.0f);
  auto b = test::random_floats(size_t(n) * rows, seed + 1, -2.0f, 2.0f);
  auto w = test::random_floats(n, seed + 2, 0.5f, 1.5f);
  std::vector<float> sum(x.size());
  for (size_t i = 0; i < x.size(); ++i) sum[i] = x[i] + b[i];
  auto want = attn_ref::rms_norm(sum, w, n, rows, 1e-5f);

  for (bool sg : {false, true}) {
    Ops ops(test::context());
    ops.set_subgroup_norms(sg);
    rt::Buffer dx = test::upload(x), db = test::upload(b), dw = test::upload(w);
    rt::Buffer dsum = test::poisoned(x.size() * 4), dy = test::poisoned(x.size() * 4);
    test::run([&](rt::Sequence& s) { ops.add_rms_norm(s, dx, db, dw, dsum, dy, n, rows, 1e-5f); });
    const std::string what =
        "n=" + std::to_string(n) + " rows=" + std::to_string(rows) + (sg ? " (subgroup rows)" : "");
    test::check_close(test::download<float>(dsum, x.size()), sum, 0.0, 1.0, "sum " + what);
    test::check_close(test::download<float>(dy, x.size()), want, 1e-5, 1.0, "norm " + what);
    test::check_no_validation_messages();
  }
}

TEST_CASE("add_rms_norm: residual add and norm in one dispatch") {
  for (uint32_t n : {1u, 7u, 33u, 4097u, 4u, 288u, 4100u}) check_add_rms_norm(n, 3, 40 + n);
  check_add_rms_norm(64, 37, 90);
}
