// add.comp against a scalar reference.
#include "graph/ops.h"
#include "support/vk_test.h"

using namespace vkllm;

static void check_add(uint32_t n, uint32_t nb, uint32_t seed) {
  auto a = test::random_floats(n, seed);
  auto b = test::random_floats(nb, seed + 1);
  std::vector<float> want(n);
  for (uint32_t i = 0; i < n; ++i) want[i] = a[i] + b[i % nb];

  Ops ops(test::context());
  rt::Buffer da = test::upload(a), db = test::upload(b), dc = test::poisoned(n * 4);
  test::run([&](rt::Sequence& s) { ops.add(s, da, db, dc, n, nb); });
  test::check_close(test::download<float>(dc, n), want, 1e-6, 1e-6, "add");
  test::check_no_validation_messages();
}

TEST_CASE("add: odd sizes") {
  for (uint32_t n : {1u, 7u, 33u, 4097u}) check_add(n, n, n);
}

TEST_CASE("add: broadcast of a shorter row") {
  check_add(33 * 7, 33, 5);
  check_add(4097, 1, 9);
}
