// rope.comp against a scalar reference (angles rounded to f32 as the kernel and llama.cpp do,
// cos/sin and the rotation in double).
#include "attention_ref.h"

using namespace vkllm;

namespace {

struct RopeCase {
  uint32_t head_dim, n_heads, T, n_rot;
  float base;
  RopeMode mode;
  uint32_t pos0;
  bool in_place;
};

void check_rope(const RopeCase& c, uint32_t seed) {
  const size_t n = size_t(c.T) * c.n_heads * c.head_dim;
  auto x = test::random_floats(n, seed);
  auto want = attn_ref::rope(x, c.head_dim, c.n_heads, c.T, c.n_rot, c.base, c.mode, c.pos0);

  Ops ops(test::context());
  rt::Buffer dx = test::upload(x), dy = test::poisoned(n * 4), step = attn_ref::step_buffer(c.pos0);
  const rt::Buffer& out = c.in_place ? dx : dy;
  test::run([&](rt::Sequence& s) {
    ops.rope(s, dx, out, step, c.head_dim, c.n_heads, c.T, c.n_rot, c.base, c.mode);
  });
  // Relative 1e-5 with an absolute floor of 1e-5 (|x| <= 1), at every position tested (up to
  // 4100): the angle is the same f32 value on both sides, so only sin/cos accuracy is compared.
  test::check_close(test::download<float>(out, n), want, 1e-5, 1.0,
                    std::string(c.mode == RopeMode::NeoX ? "neox" : "normal") + " head_dim=" +
                        std::to_string(c.head_dim) + " n_rot=" + std::to_string(c.n_rot) +
                        " pos0=" + std::to_string(c.pos0) + (c.in_place ? " in place" : ""));
  test::check_no_validation_messages();
}

}  // namespace

TEST_CASE("rope: normal and neox, full rotation") {
  uint32_t seed = 1;
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX})
    for (uint32_t hd : {2u, 8u, 64u, 128u})
      for (uint32_t pos0 : {0u, 1u, 37u})
        check_rope({hd, 3, 5, hd, 10000.0f, mode, pos0, false}, seed++);
}

TEST_CASE("rope: partial rotation copies the remaining dims") {
  uint32_t seed = 100;
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX}) {
    check_rope({24, 2, 3, 16, 10000.0f, mode, 5, false}, seed++);
    check_rope({64, 2, 3, 32, 10000.0f, mode, 9, false}, seed++);
    check_rope({10, 3, 2, 2, 10000.0f, mode, 3, false}, seed++);
    check_rope({8, 3, 2, 0, 10000.0f, mode, 3, false}, seed++);
  }
}

TEST_CASE("rope: in place, other bases") {
  uint32_t seed = 200;
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX}) {
    check_rope({64, 4, 7, 64, 10000.0f, mode, 11, true}, seed++);
    check_rope({24, 3, 2, 16, 10000.0f, mode, 2, true}, seed++);
    check_rope({128, 2, 2, 128, 500000.0f, mode, 777, false}, seed++);
    check_rope({64, 2, 2, 64, 1000000.0f, mode, 123, true}, seed++);
  }
}

TEST_CASE("rope: large positions") {
  uint32_t seed = 300;
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX})
    for (uint32_t pos0 : {1000u, 2047u, 4000u, 4090u}) {
      check_rope({64, 2, 6, 64, 10000.0f, mode, pos0, false}, seed++);
      check_rope({128, 1, 3, 96, 10000.0f, mode, pos0, true}, seed++);
    }
  check_rope({64, 2, 2, 64, 10000.0f, RopeMode::Normal, 30000, false}, seed++);
}

TEST_CASE("rope: one recorded command buffer replayed at new positions") {
  const uint32_t hd = 64, nh = 2, n = hd * nh;
  auto x = test::random_floats(n, 400);
  Ops ops(test::context());
  rt::Buffer dx = test::upload(x), dy = test::poisoned(n * 4), step = attn_ref::step_buffer(0);
  rt::Sequence seq(test::context());
  seq.begin();
  ops.rope(seq, dx, dy, step, hd, nh, 1, hd, 10000.0f, RopeMode::Normal);
  seq.end();
  for (uint32_t pos : {0u, 1u, 2u, 50u, 3000u}) {
    StepParams sp{pos, pos, {0, 0}};
    test::context().upload(step, 0, &sp, sizeof(sp));
    seq.submit_and_wait();
    auto want = attn_ref::rope(x, hd, nh, 1, hd, 10000.0f, RopeMode::Normal, pos);
    test::check_close(test::download<float>(dy, n), want, 1e-5, 1.0,
                      "replay pos=" + std::to_string(pos));
  }
  test::check_no_validation_messages();
}
