// The profiling cost model: bytes and FLOPs per node from its parameters and tensor sizes.

#include <filesystem>
#include <set>
#include <stdexcept>

#include "graph/cost.h"
#include "graph/engine.h"
#include "support/random_model.h"
#include "support/scratch.h"
#include "support/vk_test.h"

using namespace vkllm;

TEST_CASE("cost: matmul moves its weights, input and output and does 2*M*K*T flops") {
  Graph g;
  const uint32_t M = 96, K = 64, T = 3;
  const int w = g.external("w", uint64_t{M} * K * 2, {});  // an F16 weight's bytes
  const int x = g.activation("x", uint64_t{T} * K * 4);
  const int y = g.activation("y", uint64_t{T} * M * 4);
  g.add("blk.7.q", MatMulOp{GGMLType::F16, M, K, T}, {w, x}, y);
  const Node& n = g.nodes().back();
  const NodeCost c = node_cost(g, n, 0);
  CHECK(c.bytes == uint64_t{M} * K * 2 + uint64_t{T} * K * 4 + uint64_t{T} * M * 4);
  CHECK(c.flops == doctest::Approx(2.0 * M * K * T));
  CHECK(std::string(op_kind_name(n.op)) == "matmul");
  CHECK(node_layer(n.name) == 7);
}

TEST_CASE("cost: attention reads the cache rows each token attends to") {
  Graph g;
  const uint32_t hd = 8, H = 4, KVH = 2, T = 2, ctx = 64;
  const int q = g.activation("q", uint64_t{T} * H * hd * 4);
  const int kc = g.external("k", uint64_t{ctx} * KVH * hd * 4, {});
  const int vc = g.external("v", uint64_t{ctx} * KVH * hd * 4, {});
  const int st = g.external("step", 16, {});
  const int o = g.activation("o", uint64_t{T} * H * hd * 4);
  g.add("blk.0.attention", AttentionOp{hd, H, KVH, T, ctx, 0.5f}, {q, kc, vc, st}, o);
  const Node& n = g.nodes().back();
  // At pos0 = 10 the two tokens attend to 11 and 12 keys.
  const uint64_t keys = 11 + 12;
  const NodeCost c = node_cost(g, n, 10);
  CHECK(c.bytes == 2ull * T * H * hd * 4 + 2 * keys * KVH * hd * 4);
  CHECK(c.flops == doctest::Approx(4.0 * keys * H * hd));
  // Later positions cost more.
  CHECK(node_cost(g, n, 40).bytes > c.bytes);
  CHECK(std::string(op_kind_name(n.op)) == "attention");
}

TEST_CASE("cost: element-wise ops, copies and layer names") {
  Graph g;
  const int a = g.activation("a", 400);
  const int b = g.activation("b", 400);
  const int c = g.activation("c", 400);
  g.add("embed", SwiGluOp{100}, {a, b}, c);
  CHECK(node_cost(g, g.nodes().back(), 0).bytes == 1200);
  CHECK(node_layer("embed") == -1);
  g.add("last_row", CopyBytesOp{64, 32}, {a}, b);
  CHECK(node_cost(g, g.nodes().back(), 0).bytes == 64);
  CHECK(node_cost(g, g.nodes().back(), 0).flops == 0.0);
  CHECK(std::string(op_kind_name(g.nodes().back().op)) == "copy_bytes");
  CHECK(node_layer("blk.12.ffn_out") == 12);
  CHECK(node_layer("blk.x.q") == -1);
  CHECK(node_layer("blk.3") == -1);
  CHECK(node_layer("output") == -1);
}

TEST_CASE("engine: profile_last gives one record per node with its kind, layer, time and cost") {
  const std::string path = (test::scratch_dir() / "cost.gguf").string();
  test::RandomLlamaConfig cfg;  // 2 layers
  test::write_random_llama(path, cfg);
  GGUFFile f = GGUFFile::open(path);
  auto& ctx = test::context();

  EngineOptions plain;
  plain.n_ctx = 32;
  Engine untimed(ctx, f, plain);
  const std::vector<int32_t> prompt = {1, 20, 30, 40};
  untimed.eval(prompt);
  CHECK_THROWS_AS(untimed.profile_last(4), std::logic_error);
  if (!ctx.info().timestamps) return;

  EngineOptions eo = plain;
  eo.timestamps = true;
  Engine engine(ctx, f, eo);
  CHECK_THROWS_AS(engine.profile_last(4), std::logic_error);  // nothing has run yet
  engine.eval(prompt);
  const int32_t tok = 5;
  engine.eval(std::span<const int32_t>(&tok, 1));
  const auto decode = engine.profile_last(1);
  const auto batch = engine.profile_last(4);
  CHECK(decode.size() == engine.stats().decode_dispatches);
  CHECK(batch.size() == decode.size() + 1);  // the last-row copy
  std::set<int> layers;
  double matmul_flops = 0;
  for (const auto& n : decode) {
    CHECK(n.ms >= 0.0);
    CHECK(n.bytes > 0);
    CHECK(!n.kind.empty());
    CHECK(!n.kernel.empty());
    layers.insert(n.layer);
    if (n.kind.rfind("matmul", 0) == 0) matmul_flops += n.flops;  // matmul, matmul_swiglu
  }
  CHECK(layers == std::set<int>{-1, 0, 1});
  // Every weight matrix once: 2 * parameters of the matrices.
  const double E = cfg.n_embd, F = cfg.n_ff, V = cfg.n_vocab;
  const double kv = double(cfg.n_embd) / cfg.n_head * cfg.n_head_kv;
  CHECK(matmul_flops ==
        doctest::Approx(2.0 * (cfg.n_layer * (2 * E * E + 2 * E * kv + 3 * E * F) + V * E)));
  CHECK(batch.back().name == "output");
  CHECK(batch[batch.size() - 2].kind == "copy_bytes");
  CHECK(batch[batch.size() - 2].kernel == "copy");
  test::check_no_validation_messages();
}
