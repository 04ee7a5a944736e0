// kv_write.comp and attention.comp against scalar references, and the chain RoPE -> KV write ->
// attention recorded in one Sequence.
#include "attention_ref.h"

using namespace vkllm;

namespace {

// Relative 1e-5 with an absolute floor of 1e-5 (outputs are averages of values in [-1, 1]).
constexpr double kRel = 1e-5, kFloor = 1.0;

struct AttnCase {
  uint32_t head_dim, n_heads, n_kv_heads, T, ctx_len, pos0;
  float scale = 0.0f;  // 0: 1 / sqrt(head_dim)
};

std::string describe(const AttnCase& c) {
  return "head_dim=" + std::to_string(c.head_dim) + " heads=" + std::to_string(c.n_heads) + "/" +
         std::to_string(c.n_kv_heads) + " T=" + std::to_string(c.T) +
         " ctx=" + std::to_string(c.ctx_len) + " pos0=" + std::to_string(c.pos0);
}

// kv_half: the caches hold f16 elements (the reference reads the same rounded values). qt: the
// texel kernel's tokens per workgroup for batches (tuning attention_tokens). Returns the output.
std::vector<float> check_attention_with(bool texel, const AttnCase& c, uint32_t seed,
                                        bool kv_half = false, uint32_t qt = 1) {
  const float scale = c.scale != 0.0f ? c.scale : 1.0f / std::sqrt(float(c.head_dim));
  const size_t qn = size_t(c.T) * c.n_heads * c.head_dim;
  const size_t kvn = size_t(c.ctx_len) * c.n_kv_heads * c.head_dim;
  // The whole cache holds data, so keys past each token's position must be masked out.
  auto q = test::random_floats(qn, seed);
  auto k = test::random_floats(kvn, seed + 1);
  auto v = test::random_floats(kvn, seed + 2);
  if (kv_half) k = test::round_to_half(k), v = test::round_to_half(v);
  auto want = attn_ref::attention(q, k, v, c.head_dim, c.n_heads, c.n_kv_heads, c.T, c.ctx_len,
                                  scale, c.pos0);

  Ops ops(test::context());
  ops.set_texel_kernels(texel);
  ops.set_attention_tokens(qt);
  rt::Buffer dq = test::upload(q);
  rt::Buffer dk = kv_half ? test::upload(test::to_halves(k)) : test::upload(k);
  rt::Buffer dv = kv_half ? test::upload(test::to_halves(v)) : test::upload(v);
  rt::Buffer dout = test::poisoned(qn * 4), step = attn_ref::step_buffer(c.pos0);
  test::run([&](rt::Sequence& s) {
    ops.attention(s, dq, dk, dv, dout, step, c.head_dim, c.n_heads, c.n_kv_heads, c.T, c.ctx_len,
                  scale, kv_half);
  });
  auto got = test::download<float>(dout, qn);
  test::check_close(got, want, kRel, kFloor,
                    describe(c) +
                        (texel ? " (texel kernel, " + std::to_string(qt) + " tokens)" : "") +
                        (kv_half ? " f16 KV" : ""));
  test::check_no_validation_messages();
  return got;
}

// attention.comp and, where the device has texel buffers and subgroup arithmetic, attention_t
// (head_dim a multiple of 4) with one token per workgroup and, for batches long enough to take
// the grouped kernel (256 tokens, graph/ops_attention.cpp), with `qt`: the grouped kernel must
// give each token bit for bit what the one-token kernel gives it.
void check_attention(const AttnCase& c, uint32_t seed, uint32_t qt = 4) {
  check_attention_with(false, c, seed);
  if (!test::context().info().texel_buffers) return;
  const auto one = check_attention_with(true, c, seed, false, 1);
  if (c.T >= 256 && c.head_dim % 4 == 0) {
    const auto grouped = check_attention_with(true, c, seed, false, qt);
    CHECK_MESSAGE(grouped == one, describe(c) << ": " << qt << " tokens per workgroup differ");
  }
}

}  // namespace

TEST_CASE("kv_write: writes rows pos0..pos0+T-1 and nothing else") {
  struct KvCase {
    uint32_t kv_width, T, ctx_len, pos0;
  };
  uint32_t seed = 1;
  for (KvCase c :
       {KvCase{64, 1, 16, 0}, KvCase{64, 1, 16, 15}, KvCase{24, 5, 40, 3}, KvCase{7, 9, 20, 11},
        KvCase{256, 33, 100, 50}, KvCase{16, 6, 10, 7} /* rows 10..12 fall past ctx_len */}) {
    auto src = test::random_floats(size_t(c.T) * c.kv_width, seed++);
    auto cache = test::random_floats(size_t(c.ctx_len) * c.kv_width, seed++, 5.0f, 6.0f);
    auto want = cache;
    attn_ref::kv_write(src, want, c.kv_width, c.T, c.ctx_len, c.pos0);

    Ops ops(test::context());
    // The cache buffer has a guard row past ctx_len that must stay untouched too.
    auto guarded = cache;
    guarded.resize(cache.size() + c.kv_width, 7.0f);
    rt::Buffer dsrc = test::upload(src), dcache = test::upload(guarded);
    rt::Buffer step = attn_ref::step_buffer(c.pos0);
    test::run(
        [&](rt::Sequence& s) { ops.kv_write(s, dsrc, dcache, step, c.kv_width, c.T, c.ctx_len); });
    want.resize(guarded.size(), 7.0f);
    test::check_close(test::download<float>(dcache, want.size()), want, 0.0, 1.0,
                      "kv_write width=" + std::to_string(c.kv_width) + " T=" + std::to_string(c.T) +
                          " pos0=" + std::to_string(c.pos0));
    test::check_no_validation_messages();
  }
}

TEST_CASE("attention: one token, no GQA, positions across tile boundaries") {
  uint32_t seed = 10;
  for (uint32_t hd : {8u, 24u, 64u, 128u})
    for (uint32_t pos0 : {0u, 1u, 37u, 1000u})
      check_attention({hd, 4, 4, 1, 1024, pos0}, seed += 3);
}

TEST_CASE("attention: grouped-query heads") {
  uint32_t seed = 100;
  for (uint32_t n_kv : {4u, 2u, 1u}) {
    check_attention({64, 8, n_kv, 1, 1024, 1000}, seed += 3);
    check_attention({128, 8, n_kv, 1, 300, 255}, seed += 3);
    check_attention({24, 8, n_kv, 5, 16, 3}, seed += 3);
    check_attention({8, 8, n_kv, 1, 4, 2}, seed += 3);
  }
}

TEST_CASE("attention: batch causal mask") {
  uint32_t seed = 200;
  // Tokens 3..7 of a batch: token t sees positions 0..3+t only, though the cache is full.
  for (uint32_t hd : {8u, 24u, 64u, 128u}) check_attention({hd, 4, 2, 5, 8, 3}, seed += 3);
  check_attention({64, 4, 4, 5, 64, 3}, seed += 3);
  check_attention({6, 4, 2, 5, 8, 3}, seed += 3);  // head_dim not a multiple of 4
  // Batches that take the grouped kernel: groups of 4, 3 and 2 tokens (the last one short), and
  // 8 asked for with head_dim 64 (4 taken).
  check_attention({64, 4, 2, 259, 300, 40}, seed += 3);
  check_attention({24, 2, 2, 257, 280, 9}, seed += 3, 3);
  check_attention({32, 2, 1, 263, 263, 0}, seed += 3, 2);
  check_attention({64, 2, 2, 256, 256, 0}, seed += 3, 8);
  // A prefill batch whose positions cross the 256-key tile boundary.
  check_attention({64, 2, 1, 40, 300, 240}, seed += 3);
  // Prefill from position 0.
  check_attention({32, 4, 2, 17, 17, 0}, seed += 3);
}

TEST_CASE("attention: sharp softmax, head_dim 256, long context") {
  uint32_t seed = 300;
  check_attention({64, 4, 2, 3, 600, 500, 1.0f}, seed += 3);  // scores spread over ~+-20
  check_attention({256, 2, 1, 2, 520, 515}, seed += 3);
  check_attention({128, 8, 2, 1, 2100, 2050}, seed += 3);
  check_attention({64, 4, 4, 3, 2100, 2097}, seed += 3);  // last rows of the cache
}

TEST_CASE("attention: later tokens of a batch do not influence earlier ones") {
  const AttnCase c{64, 4, 2, 5, 8, 3};
  const float scale = 0.125f;
  const size_t qn = size_t(c.T) * c.n_heads * c.head_dim, kvn = size_t(c.ctx_len) * 2 * 64;
  auto q = test::random_floats(qn, 400);
  auto k = test::random_floats(kvn, 401), v = test::random_floats(kvn, 402);
  Ops ops(test::context());
  rt::Buffer dq = test::upload(q), step = attn_ref::step_buffer(c.pos0);
  auto run = [&](const std::vector<float>& kk, const std::vector<float>& vv) {
    rt::Buffer dk = test::upload(kk), dv = test::upload(vv), dout = test::poisoned(qn * 4);
    test::run([&](rt::Sequence& s) {
      ops.attention(s, dq, dk, dv, dout, step, c.head_dim, c.n_heads, c.n_kv_heads, c.T, c.ctx_len,
                    scale);
    });
    return test::download<float>(dout, qn);
  };
  auto before = run(k, v);
  // Change cache rows 5..7 (positions of tokens t = 2..4): outputs of tokens 0 and 1 must not move.
  for (size_t i = 5 * 128; i < kvn; ++i) k[i] += 3.0f, v[i] -= 2.0f;
  auto after = run(k, v);
  const size_t first_two = 2 * c.n_heads * c.head_dim;
  CHECK(std::equal(before.begin(), before.begin() + first_two, after.begin()));
  CHECK(!std::equal(before.begin() + first_two, before.end(), after.begin() + first_two));
  test::check_no_validation_messages();
}

namespace {

struct ChainCase {
  uint32_t head_dim, n_heads, n_kv_heads, T, ctx_len, pos0;
  RopeMode mode;
};

// RoPE(q) in place, RoPE(k) into a scratch buffer, KV writes, attention: one Sequence, barriers
// between dependent dispatches. The cache rows before pos0 hold earlier tokens' keys and values.
void check_chain(const ChainCase& c, uint32_t seed) {
  const uint32_t hd = c.head_dim, qw = c.n_heads * hd, kvw = c.n_kv_heads * hd;
  const float base = 10000.0f, scale = 1.0f / std::sqrt(float(hd));
  auto q = test::random_floats(size_t(c.T) * qw, seed);
  auto k = test::random_floats(size_t(c.T) * kvw, seed + 1);
  auto v = test::random_floats(size_t(c.T) * kvw, seed + 2);
  auto k_cache = test::random_floats(size_t(c.ctx_len) * kvw, seed + 3);
  auto v_cache = test::random_floats(size_t(c.ctx_len) * kvw, seed + 4);

  auto q_rot = attn_ref::rope(q, hd, c.n_heads, c.T, hd, base, c.mode, c.pos0);
  auto k_rot = attn_ref::rope(k, hd, c.n_kv_heads, c.T, hd, base, c.mode, c.pos0);
  auto want_k = k_cache, want_v = v_cache;
  attn_ref::kv_write(k_rot, want_k, kvw, c.T, c.ctx_len, c.pos0);
  attn_ref::kv_write(v, want_v, kvw, c.T, c.ctx_len, c.pos0);
  auto want = attn_ref::attention(q_rot, want_k, want_v, hd, c.n_heads, c.n_kv_heads, c.T,
                                  c.ctx_len, scale, c.pos0);

  Ops ops(test::context());
  rt::Buffer dq = test::upload(q), dk = test::upload(k), dv = test::upload(v);
  rt::Buffer dkc = test::upload(k_cache), dvc = test::upload(v_cache);
  rt::Buffer dk_rot = test::poisoned(k.size() * 4), dout = test::poisoned(q.size() * 4);
  rt::Buffer step = attn_ref::step_buffer(c.pos0);
  test::run([&](rt::Sequence& s) {
    ops.rope(s, dq, dq, step, hd, c.n_heads, c.T, hd, base, c.mode);
    ops.rope(s, dk, dk_rot, step, hd, c.n_kv_heads, c.T, hd, base, c.mode);
    s.barrier();
    ops.kv_write(s, dk_rot, dkc, step, kvw, c.T, c.ctx_len);
    ops.kv_write(s, dv, dvc, step, kvw, c.T, c.ctx_len);
    s.barrier();
    ops.attention(s, dq, dkc, dvc, dout, step, hd, c.n_heads, c.n_kv_heads, c.T, c.ctx_len, scale);
  });
  const std::string what = "chain " + std::string(c.mode == RopeMode::NeoX ? "neox" : "normal") +
                           " pos0=" + std::to_string(c.pos0) + " T=" + std::to_string(c.T);
  test::check_close(test::download<float>(dkc, want_k.size()), want_k, kRel, kFloor, what + " k");
  test::check_close(test::download<float>(dvc, want_v.size()), want_v, 0.0, 1.0, what + " v");
  test::check_close(test::download<float>(dout, want.size()), want, kRel, kFloor, what + " out");
  test::check_no_validation_messages();
}

}  // namespace

TEST_CASE("attention: RoPE + KV write + attention in one sequence") {
  check_chain({64, 4, 2, 4, 64, 37, RopeMode::Normal}, 500);
  check_chain({64, 4, 2, 4, 64, 37, RopeMode::NeoX}, 510);
  check_chain({24, 8, 1, 1, 400, 300, RopeMode::Normal}, 520);
  check_chain({128, 4, 4, 6, 600, 0, RopeMode::NeoX}, 530);
}

TEST_CASE("attention: decode steps replay one recorded sequence") {
  // The decode command buffer is recorded once; only the step buffer changes between tokens.
  const uint32_t hd = 32, nh = 4, nkv = 2, ctx = 24, qw = nh * hd, kvw = nkv * hd;
  const float base = 10000.0f, scale = 1.0f / std::sqrt(float(hd));
  auto k_cache = test::random_floats(size_t(ctx) * kvw, 600);  // stale contents must not leak
  auto v_cache = test::random_floats(size_t(ctx) * kvw, 601);
  std::vector<float> want_k = k_cache, want_v = v_cache;

  Ops ops(test::context());
  rt::Buffer dq = test::poisoned(qw * 4), dk = test::poisoned(kvw * 4),
             dv = test::poisoned(kvw * 4);
  rt::Buffer dkc = test::upload(k_cache), dvc = test::upload(v_cache);
  rt::Buffer dout = test::poisoned(qw * 4), step = attn_ref::step_buffer(0);
  rt::Sequence seq(test::context());
  seq.begin();
  ops.rope(seq, dq, dq, step, hd, nh, 1, hd, base, RopeMode::Normal);
  ops.rope(seq, dk, dk, step, hd, nkv, 1, hd, base, RopeMode::Normal);
  seq.barrier();
  ops.kv_write(seq, dk, dkc, step, kvw, 1, ctx);
  ops.kv_write(seq, dv, dvc, step, kvw, 1, ctx);
  seq.barrier();
  ops.attention(seq, dq, dkc, dvc, dout, step, hd, nh, nkv, 1, ctx, scale);
  seq.end();

  for (uint32_t pos = 0; pos < ctx; ++pos) {
    auto q = test::random_floats(qw, 700 + 3 * pos);
    auto k = test::random_floats(kvw, 701 + 3 * pos);
    auto v = test::random_floats(kvw, 702 + 3 * pos);
    test::context().upload(dq, 0, q.data(), q.size() * 4);
    test::context().upload(dk, 0, k.data(), k.size() * 4);
    test::context().upload(dv, 0, v.data(), v.size() * 4);
    StepParams sp{pos, pos, {0, 0}};
    test::context().upload(step, 0, &sp, sizeof(sp));
    seq.submit_and_wait();

    auto q_rot = attn_ref::rope(q, hd, nh, 1, hd, base, RopeMode::Normal, pos);
    auto k_rot = attn_ref::rope(k, hd, nkv, 1, hd, base, RopeMode::Normal, pos);
    attn_ref::kv_write(k_rot, want_k, kvw, 1, ctx, pos);
    attn_ref::kv_write(v, want_v, kvw, 1, ctx, pos);
    auto want = attn_ref::attention(q_rot, want_k, want_v, hd, nh, nkv, 1, ctx, scale, pos);
    test::check_close(test::download<float>(dout, qw), want, kRel, kFloor,
                      "decode pos=" + std::to_string(pos));
  }
  test::check_close(test::download<float>(dkc, want_k.size()), want_k, kRel, kFloor, "k cache");
  test::check_no_validation_messages();
}

TEST_CASE("attention: f16 KV cache (storage and texel kernels), against the rounded reference") {
  uint32_t seed = 900;
  for (bool texel : {false, true}) {
    if (texel && !test::context().info().texel_buffers) continue;
    // head_dim 64 and 16 take attention_t_kv_half (8 halves per texel); 12 is not a multiple
    // of 8 and takes attention.comp either way.
    check_attention_with(texel, {64, 8, 2, 1, 300, 255}, seed += 3, true);
    check_attention_with(texel, {16, 4, 4, 5, 40, 3}, seed += 3, true);
    check_attention_with(texel, {8, 8, 4, 13, 64, 0}, seed += 3, true);  // stories260K-shaped
    check_attention_with(texel, {12, 6, 2, 3, 16, 7}, seed += 3, true);
    check_attention_with(texel, {64, 2, 1, 40, 300, 240}, seed += 3, true);
  }
  if (!test::context().info().texel_buffers) return;
  // Batches with 4 tokens per workgroup give what one token per workgroup gives, bit for bit.
  for (AttnCase c : {AttnCase{16, 2, 2, 258, 270, 3}, AttnCase{8, 8, 4, 256, 256, 0},
                     AttnCase{64, 2, 1, 261, 300, 39}}) {
    const auto one = check_attention_with(true, c, seed, true, 1);
    CHECK_MESSAGE(check_attention_with(true, c, seed, true, 4) == one, describe(c));
    seed += 3;
  }
}
