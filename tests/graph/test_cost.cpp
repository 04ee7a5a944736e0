// The profiling cost model: bytes and FLOPs per node from its parameters and tensor sizes.
#include <doctest/doctest.h>

#include "graph/cost.h"

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
