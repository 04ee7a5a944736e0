// rope_kv.comp (fused RoPE + KV-cache write) against the separate CPU references of RoPE and the
// KV write, with q/k/v as separate buffers and as column slices of one fused QKV matrix; and
// matmul_rope_kv, the q/k/v product with the same epilogue (matvec_t_*_qkv).
#include <cstring>
#include <stdexcept>
#include <string>

#include "attention_ref.h"
#include "graph/ops.h"
#include "quant/formats.h"
#include "quant/repack.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

struct Case {
  uint32_t head_dim, n_heads, n_kv, T, n_rot, pos0, ctx;
  RopeMode mode;
  bool fused_qkv;
};

// The reference outputs of RoPE + KV write for q/k/v rows of a batch: rope(q), and caches that
// start with known random values (rows outside pos0..pos0+T-1 must keep them) with rope(k) and v
// written into them.
struct Expected {
  std::vector<float> q, k_cache, v_cache;  // initial caches
  std::vector<float> want_k, want_v;       // caches afterwards
};

// A cache buffer holding `init` as f32, or as f16 (kv_half; Ops::RopeKvShape::kv_half).
rt::Buffer cache_buffer(const std::vector<float>& init, bool kv_half) {
  return kv_half ? test::upload(test::to_halves(init)) : test::upload(init);
}

// Compares a cache with the reference: f32 to `rel`; f16 against the reference rounded to f16,
// within one f16 step (the kernel rounds its own f32 result, which may differ in the last bits).
void check_cache(const rt::Buffer& b, const std::vector<float>& want, bool kv_half, double rel,
                 const std::string& what) {
  if (!kv_half) {
    test::check_close(test::download<float>(b, want.size()), want, rel, 1.0, what);
    return;
  }
  test::check_close(test::from_halves(test::download<uint16_t>(b, want.size())),
                    test::round_to_half(want), 2e-3, 1.0, what + " (f16)");
}
Expected expected(const Case& c, const std::vector<float>& q, const std::vector<float>& k,
                  const std::vector<float>& v, uint32_t seed) {
  const uint32_t KV = c.n_kv * c.head_dim;
  const float base = 10000.0f;
  Expected e;
  e.q = attn_ref::rope(q, c.head_dim, c.n_heads, c.T, c.n_rot, base, c.mode, c.pos0);
  const auto k_rot = attn_ref::rope(k, c.head_dim, c.n_kv, c.T, c.n_rot, base, c.mode, c.pos0);
  e.k_cache = test::random_floats(size_t{c.ctx} * KV, seed);
  e.v_cache = test::random_floats(size_t{c.ctx} * KV, seed + 1);
  e.want_k = e.k_cache;
  e.want_v = e.v_cache;
  attn_ref::kv_write(k_rot, e.want_k, KV, c.T, c.ctx, c.pos0);
  attn_ref::kv_write(v, e.want_v, KV, c.T, c.ctx, c.pos0);
  return e;
}

void check(const Case& c, uint32_t seed, bool kv_half = false) {
  const uint32_t E = c.n_heads * c.head_dim, KV = c.n_kv * c.head_dim;
  const uint32_t stride = E + 2 * KV;
  // One [T x (E + 2KV)] matrix; q, k, v are its column slices.
  auto qkv = test::random_floats(size_t{c.T} * stride, seed, -2.0f, 2.0f);
  std::vector<float> q, k, v;
  for (uint32_t t = 0; t < c.T; ++t) {
    const float* row = qkv.data() + size_t{t} * stride;
    q.insert(q.end(), row, row + E);
    k.insert(k.end(), row + E, row + E + KV);
    v.insert(v.end(), row + E + KV, row + stride);
  }
  const float base = 10000.0f;
  const Expected e = expected(c, q, k, v, seed + 1);
  const auto &want_q = e.q, &k_cache = e.k_cache, &v_cache = e.v_cache;
  const auto &want_k = e.want_k, &want_v = e.want_v;

  Ops ops(test::context());
  rt::Buffer dk = cache_buffer(k_cache, kv_half), dv = cache_buffer(v_cache, kv_half);
  rt::Buffer dq_out = test::poisoned(size_t{c.T} * E * 4), step = attn_ref::step_buffer(c.pos0);
  rt::Buffer dqkv = test::upload(qkv), dq = test::upload(q), dkk = test::upload(k),
             dvv = test::upload(v);
  const Ops::RopeKvShape sh{c.head_dim, c.n_heads, c.n_kv, c.T,    c.n_rot,
                            c.ctx,      base,      c.mode, kv_half};
  test::run([&](rt::Sequence& s) {
    if (c.fused_qkv)  // the same matrix bound three times, slices picked by offsets
      ops.rope_kv(s, dqkv, dqkv, dqkv, dq_out, dk, dv, step, sh,
                  {stride, 0, stride, E, stride, E + KV});
    else
      ops.rope_kv(s, dq, dkk, dvv, dq_out, dk, dv, step, sh, {E, 0, KV, 0, KV, 0});
  });
  test::check_close(test::download<float>(dq_out, want_q.size()), want_q, 1e-5, 1.0, "q");
  check_cache(dk, want_k, kv_half, 1e-5, "k_cache");
  check_cache(dv, want_v, kv_half, 0.0, "v_cache");
  test::check_no_validation_messages();
}

}  // namespace

TEST_CASE("rope_kv: separate q/k/v, GQA, both layouts, partial rotation") {
  uint32_t seed = 10;
  for (RopeMode mode : {RopeMode::Normal, RopeMode::NeoX}) {
    check({8, 8, 4, 1, 8, 0, 16, mode, false}, seed++);
    check({64, 4, 1, 5, 64, 3, 40, mode, false}, seed++);
    check({24, 6, 2, 7, 16, 1000, 1010, mode, false}, seed++);  // last rows, partial rotation
  }
}

TEST_CASE("rope_kv: rows at or past the context length are not written") {
  check({8, 2, 2, 6, 8, 13, 16, RopeMode::Normal, false}, 31);  // tokens 3..5 fall outside
}

TEST_CASE("rope_kv: q, k, v read with the row stride of a fused QKV matrix") {
  check({16, 4, 2, 3, 16, 7, 24, RopeMode::Normal, true}, 41);
}

namespace {

// matmul_rope_kv: the q/k/v product with RoPE and the KV write in its epilogue, against the
// double-precision product of the (dequantized) weights followed by the RoPE and KV-write
// references. `lanes` picks the texel kernels' mapping (rows per invocation or the K split).
// `norm`: x is the input of a deferred RMSNorm (Ops::NormIn, one token), four partials per token,
// and the products are scaled by the norm factor before the RoPE.
void check_fused(GGMLType type, const Case& c, uint32_t K, bool lanes, uint32_t seed,
                 bool norm = false, bool kv_half = false) {
  const uint32_t E = c.n_heads * c.head_dim, KV = c.n_kv * c.head_dim, M = E + 2 * KV;
  auto w = test::random_floats(size_t{M} * K, seed, -1.0f, 1.0f);
  std::vector<uint8_t> bytes;
  WeightLayout layout = WeightLayout::AsStored;
  Ops ops(test::context());
  ops.set_texel_kernels(true);
  ops.set_texel_lanes(lanes);
  if (type == GGMLType::F32) {
    bytes.resize(w.size() * 4);
    std::memcpy(bytes.data(), w.data(), bytes.size());
  } else {
    const auto q = quantize_rows(type, w.data(), M, K);
    w = dequantize_all(type, q, int64_t{M} * K);
    if (has_planar_layout(type)) {
      layout = WeightLayout::Planar;
      bytes.resize(planar_shape(type, M, K, ops.planar_params(type)).total_bytes);
      repack_planar(type, q, M, K, ops.planar_params(type), bytes);
    } else {
      bytes = q;
    }
  }
  const auto x = test::random_floats(size_t{c.T} * K, seed + 1);
  const auto partials = test::random_floats(size_t{c.T} * 4, seed + 3, 1.0f, float(K));
  const float eps = 1e-5f;
  std::vector<float> q, k, v;
  for (uint32_t t = 0; t < c.T; ++t) {
    double S = 0.0;
    for (uint32_t i = 0; i < 4; ++i) S += partials[4 * t + i];
    const double r = norm ? 1.0 / std::sqrt(S / K + eps) : 1.0;
    for (uint32_t m = 0; m < M; ++m) {
      double sum = 0;
      for (uint32_t i = 0; i < K; ++i) sum += double(w[size_t{m} * K + i]) * x[size_t{t} * K + i];
      (m < E ? q : m < E + KV ? k : v).push_back(float(sum * r));
    }
  }
  const float base = 10000.0f;
  const Expected e = expected(c, q, k, v, seed + 2);
  const auto &want_q = e.q, &k_cache = e.k_cache, &v_cache = e.v_cache;
  const auto &want_k = e.want_k, &want_v = e.want_v;

  const Ops::RopeKvShape sh{c.head_dim, c.n_heads, c.n_kv, c.T,    c.n_rot,
                            c.ctx,      base,      c.mode, kv_half};
  REQUIRE(ops.rope_kv_fusable(type, layout, K, sh));
  rt::Buffer dw = test::upload(bytes), dx = test::upload(x);
  rt::Buffer dk = cache_buffer(k_cache, kv_half), dv = cache_buffer(v_cache, kv_half);
  rt::Buffer dq = test::poisoned(size_t{c.T} * E * 4), step = attn_ref::step_buffer(c.pos0);
  rt::Buffer dp = test::upload(partials);
  const Ops::NormIn ni{dp, 4, eps};
  if (norm) REQUIRE(ops.norm_fusable(type, layout, M, K));
  test::run([&](rt::Sequence& s) {
    ops.matmul_rope_kv(s, type, layout, dw, dx, dq, dk, dv, step, K, sh, norm ? &ni : nullptr);
  });
  const std::string what = type_name(type) + (lanes ? " rows per invocation" : " K split") +
                           (norm ? " NormIn" : "") + (kv_half ? " f16 KV" : "") +
                           " T=" + std::to_string(c.T) + " pos0=" + std::to_string(c.pos0);
  // Outputs are dot products of K terms in [-1, 1]: a 1e-5 relative bound with floor 1.
  test::check_close(test::download<float>(dq, want_q.size()), want_q, 1e-5, 1.0, what + " q");
  check_cache(dk, want_k, kv_half, 1e-5, what + " k");
  check_cache(dv, want_v, kv_half, 1e-5, what + " v");
  test::check_no_validation_messages();
}

}  // namespace

TEST_CASE("matmul_rope_kv: fused q/k/v product, RoPE and KV write (texel kernels)") {
  if (!test::context().info().texel_buffers) return;
  uint32_t seed = 500;
  for (GGMLType type : {GGMLType::F32, GGMLType::F16, GGMLType::Q4_0, GGMLType::Q8_0}) {
    for (bool lanes : {true, false}) {
      check_fused(type, {8, 4, 2, 1, 8, 0, 16, RopeMode::Normal, true}, 64, lanes, seed++);
      check_fused(type, {16, 4, 4, 5, 16, 3, 40, RopeMode::Normal, true}, 32, lanes, seed++);
      // Partial rotation, GQA, the last rows of the cache: tokens past ctx are not written.
      check_fused(type, {12, 6, 2, 6, 8, 13, 16, RopeMode::Normal, true}, 96, lanes, seed++);
    }
  }
}

TEST_CASE("matmul_rope_kv: with the deferred RMSNorm of its input (NormIn)") {
  if (!test::context().info().texel_buffers) return;
  uint32_t seed = 600;
  for (GGMLType type : {GGMLType::F32, GGMLType::Q4_0}) {
    for (bool lanes : {true, false}) {
      check_fused(type, {8, 4, 2, 1, 8, 0, 16, RopeMode::Normal, true}, 64, lanes, seed++, true);
      check_fused(type, {12, 6, 2, 1, 8, 13, 16, RopeMode::Normal, true}, 96, lanes, seed++, true);
    }
  }
}

TEST_CASE("matmul_rope_kv: refused where it cannot run") {
  Ops ops(test::context());
  ops.set_texel_kernels(true);
  const Ops::RopeKvShape neox{8, 4, 2, 1, 8, 16, 10000.0f, RopeMode::NeoX};
  CHECK_FALSE(ops.rope_kv_fusable(GGMLType::F32, WeightLayout::AsStored, 64, neox));
  const Ops::RopeKvShape normal{8, 4, 2, 1, 8, 16, 10000.0f, RopeMode::Normal};
  CHECK_FALSE(ops.rope_kv_fusable(GGMLType::Q4_K, WeightLayout::AsStored, 256, normal));
  CHECK_FALSE(ops.rope_kv_fusable(GGMLType::F32, WeightLayout::AsStored, 48, normal));  // K % 32
  ops.set_texel_kernels(false);
  CHECK_FALSE(ops.rope_kv_fusable(GGMLType::F32, WeightLayout::AsStored, 64, normal));
  rt::Buffer b = test::upload(std::vector<float>(4096, 1.0f));
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_AS(
      ops.matmul_rope_kv(seq, GGMLType::F32, WeightLayout::AsStored, b, b, b, b, b, b, 64, normal),
      std::invalid_argument);
  seq.end();
  test::check_no_validation_messages();
}

TEST_CASE("rope_kv and matmul_rope_kv: f16 KV cache rows, and untouched rows kept") {
  uint32_t seed = 700;
  check({8, 4, 2, 3, 8, 2, 16, RopeMode::Normal, false}, seed++, true);
  check({12, 6, 2, 6, 8, 13, 16, RopeMode::Normal, true}, seed++,
        true);  // partial rotation, ctx end
  if (!test::context().info().texel_buffers) return;
  for (GGMLType type : {GGMLType::F32, GGMLType::Q4_0}) {
    for (bool lanes : {true, false}) {
      check_fused(type, {16, 4, 4, 5, 16, 3, 40, RopeMode::Normal, true}, 32, lanes, seed++, false,
                  true);
      check_fused(type, {12, 6, 2, 1, 8, 13, 16, RopeMode::Normal, true}, 96, lanes, seed++, true,
                  true);
      // stories260K's shape: head_dim 8, 8 heads over 4, a 13-token prompt.
      check_fused(type, {8, 8, 4, 13, 8, 0, 64, RopeMode::Normal, true}, 64, lanes, seed++, false,
                  true);
    }
  }
}

TEST_CASE("rope_kv: an f16 KV cache with the NeoX layout is refused") {
  Ops ops(test::context());
  rt::Buffer b = test::poisoned(4096);
  const Ops::RopeKvShape sh{8, 1, 1, 1, 8, 4, 10000.0f, RopeMode::NeoX, true};
  rt::Sequence seq(test::context());
  seq.begin();
  CHECK_THROWS_WITH_AS(ops.rope_kv(seq, b, b, b, b, b, b, b, sh, {8, 0, 8, 0, 8, 0}),
                       doctest::Contains("adjacent-pair RoPE"), std::invalid_argument);
  seq.end();
}
