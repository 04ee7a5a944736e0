// scale.comp, copy.comp, softmax.comp and swiglu.comp against scalar references.
#include <cmath>
#include <string>

#include "graph/ops.h"
#include "support/vk_test.h"

using namespace vkllm;

TEST_CASE("scale: odd sizes, in place") {
  Ops ops(test::context());
  for (uint32_t n : {1u, 7u, 33u, 4097u}) {
    const auto x = test::random_floats(n, n);
    const float f = -0.37f;
    std::vector<float> want(n);
    for (uint32_t i = 0; i < n; ++i) want[i] = x[i] * f;
    rt::Buffer dx = test::upload(x), dy = test::poisoned(n * 4);
    test::run([&](rt::Sequence& s) { ops.scale(s, dx, dy, n, f); });
    test::check_close(test::download<float>(dy, n), want, 1e-6, 1e-6, "scale");
    test::run([&](rt::Sequence& s) { ops.scale(s, dx, dx, n, f); });
    test::check_close(test::download<float>(dx, n), want, 1e-6, 1e-6, "scale in place");
  }
  test::check_no_validation_messages();
}

TEST_CASE("copy: odd sizes, offsets, only n elements") {
  Ops ops(test::context());
  const uint64_t align = std::max<uint64_t>(test::context().info().min_storage_offset_alignment, 4);
  for (uint32_t n : {1u, 7u, 33u, 4097u}) {
    const auto x = test::random_floats(n + align / 4, n + 1);
    rt::Buffer dx = test::upload(x), dy = test::poisoned(align + n * 4 + 4);
    test::run([&](rt::Sequence& s) {
      ops.copy(s, {dx, align, n * 4ull}, {dy, align, n * 4ull + 4}, n);
    });
    const auto got = test::download<float>(dy, align / 4 + n + 1);
    std::vector<float> want(x.begin() + align / 4, x.begin() + align / 4 + n);
    test::check_close(std::span(got).subspan(align / 4, n), want, 0.0, 1.0, "copy");
    CHECK(std::isnan(got[align / 4 + n]));  // the element past n stays poisoned
    CHECK(std::isnan(got[align / 4 - 1]));
  }
  test::check_no_validation_messages();
}

namespace {

std::vector<float> softmax_ref(const std::vector<float>& x, uint32_t n_cols, uint32_t rows,
                               float scale) {
  std::vector<float> y(x.size());
  for (uint32_t r = 0; r < rows; ++r) {
    const float* row = x.data() + size_t(r) * n_cols;
    double mx = -INFINITY;
    for (uint32_t i = 0; i < n_cols; ++i) mx = std::max(mx, double(row[i]) * scale);
    double sum = 0.0;
    for (uint32_t i = 0; i < n_cols; ++i) sum += std::exp(double(row[i]) * scale - mx);
    for (uint32_t i = 0; i < n_cols; ++i)
      y[size_t(r) * n_cols + i] = float(std::exp(double(row[i]) * scale - mx) / sum);
  }
  return y;
}

void check_softmax(uint32_t n_cols, uint32_t rows, float scale, float mag, uint32_t seed,
                   bool in_place = false) {
  const auto x = test::random_floats(size_t(n_cols) * rows, seed, -mag, mag);
  const auto want = softmax_ref(x, n_cols, rows, scale);
  Ops ops(test::context());
  rt::Buffer dx = test::upload(x), dy = test::poisoned(x.size() * 4);
  rt::Buffer& out = in_place ? dx : dy;
  test::run([&](rt::Sequence& s) { ops.softmax(s, dx, out, n_cols, rows, scale); });
  // exp() on the device is accurate to a few ulp of its argument; arguments reach |80| here.
  const double rel = mag * std::fabs(scale) > 10 ? 2e-5 : 2e-6;
  test::check_close(test::download<float>(out, x.size()), want, rel, 1e-30,
                    "softmax n_cols=" + std::to_string(n_cols) + " mag=" + std::to_string(mag));
  test::check_no_validation_messages();
}

}  // namespace

TEST_CASE("softmax: odd widths") {
  for (uint32_t n : {1u, 7u, 33u, 4097u}) check_softmax(n, 3, 1.0f, 1.0f, n);
  check_softmax(288, 37, 0.125f, 4.0f, 5);
}

TEST_CASE("softmax: large-magnitude inputs stay finite") {
  for (uint32_t n : {1u, 7u, 33u, 4097u}) check_softmax(n, 2, 1.0f, 80.0f, 100 + n);
  check_softmax(100, 3, 8.0f, 80.0f, 7);  // scaled arguments up to 640
  check_softmax(100, 3, -1.0f, 80.0f, 8);
}

TEST_CASE("softmax: in place") {
  check_softmax(257, 4, 0.5f, 3.0f, 9, true);
}

TEST_CASE("swiglu: odd sizes and saturating inputs") {
  Ops ops(test::context());
  for (uint32_t n : {1u, 7u, 33u, 4097u}) {
    for (float mag : {1.0f, 100.0f}) {
      const auto g = test::random_floats(n, n + 1, -mag, mag);
      const auto u = test::random_floats(n, n + 2);
      std::vector<float> want(n);
      for (uint32_t i = 0; i < n; ++i)
        want[i] = float(double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i]);
      rt::Buffer dg = test::upload(g), du = test::upload(u), dout = test::poisoned(n * 4);
      test::run([&](rt::Sequence& s) { ops.swiglu(s, dg, du, dout, n); });
      test::check_close(test::download<float>(dout, n), want, 1e-5, 1e-6,
                        "swiglu n=" + std::to_string(n) + " mag=" + std::to_string(mag));
    }
  }
  test::check_no_validation_messages();
}
