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

void check(const Case& c, uint32_t seed) {
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
  rt::Buffer dk = test::upload(k_cache), dv = test::upload(v_cache);
  rt::Buffer dq_out = test::poisoned(size_t{c.T} * E * 4), step = attn_ref::step_buffer(c.pos0);
  rt::Buffer dqkv = test::upload(qkv), dq = test::upload(q), dkk = test::upload(k),
             dvv = test::upload(v);
  const Ops::RopeKvShape sh{c.head_dim, c.n_heads, c.n_kv, c.T, c.n_rot, c.ctx, base, c.mode};
  test::run([&](rt::Sequence& s) {
    if (c.fused_qkv)  // the same matrix bound three times, slices picked by offsets
      ops.rope_kv(s, dqkv, dqkv, dqkv, dq_out, dk, dv, step, sh,
                  {stride, 0, stride, E, stride, E + KV});
    else
      ops.rope_kv(s, dq, dkk, dvv, dq_out, dk, dv, step, sh, {E, 0, KV, 0, KV, 0});
  });
  test::check_close(test::download<float>(dq_out, want_q.size()), want_q, 1e-5, 1.0, "q");
  test::check_close(test::download<float>(dk, want_k.size()), want_k, 1e-5, 1.0, "k_cache");
  test::check_close(test::download<float>(dv, want_v.size()), want_v, 0.0, 1.0, "v_cache");
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
                 bool norm = false) {
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

  const Ops::RopeKvShape sh{c.head_dim, c.n_heads, c.n_kv, c.T, c.n_rot, c.ctx, base, c.mode};
  REQUIRE(ops.rope_kv_fusable(type, layout, K, sh));
  rt::Buffer dw = test::upload(bytes), dx = test::upload(x);
  rt::Buffer dk = test::upload(k_cache), dv = test::upload(v_cache);
  rt::Buffer dq = test::poisoned(size_t{c.T} * E * 4), step = attn_ref::step_buffer(c.pos0);
  rt::Buffer dp = test::upload(partials);
  const Ops::NormIn ni{dp, 4, eps};
  if (norm) REQUIRE(ops.norm_fusable(type, layout, M, K));
  test::run([&](rt::Sequence& s) {
    ops.matmul_rope_kv(s, type, layout, dw, dx, dq, dk, dv, step, K, sh, norm ? &ni : nullptr);
  });
  const std::string what = type_name(type) + (lanes ? " rows per invocation" : " K split") +
                           (norm ? " NormIn" : "") + " T=" + std::to_string(c.T) +
                           " pos0=" + std::to_string(c.pos0);
  // Outputs are dot products of K terms in [-1, 1]: a 1e-5 relative bound with floor 1.
  test::check_close(test::download<float>(dq, want_q.size()), want_q, 1e-5, 1.0, what + " q");
  test::check_close(test::download<float>(dk, want_k.size()), want_k, 1e-5, 1.0, what + " k");
  test::check_close(test::download<float>(dv, want_v.size()), want_v, 1e-5, 1.0, what + " v");
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
