// Memory planner and executor barrier placement on hand-built graphs.
#include "graph/executor.h"
#include "graph/planner.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

// A chain x0 -> x1 -> ... -> xn of adds (x[i+1] = x[i] + b), each tensor `bytes` long.
Graph add_chain(int n, uint32_t elems, const rt::Buffer& b, const rt::Buffer& in,
                const rt::Buffer& out) {
  Graph g;
  const int tb = g.external("b", b.size(), b);
  int x = g.external("in", in.size(), in);
  for (int i = 0; i < n; ++i) {
    const int dst = i + 1 == n ? g.external("out", out.size(), out)
                               : g.activation("x" + std::to_string(i), uint64_t{elems} * 4);
    x = g.add("add" + std::to_string(i), AddOp{elems, elems}, {x, tb}, dst);
  }
  return g;
}

}  // namespace

TEST_CASE("planner: tensors with disjoint lifetimes share memory, overlapping ones never do") {
  Graph g;
  rt::Buffer dummy = test::context().create_buffer(64);
  const int in = g.external("in", 64, dummy);
  std::vector<int> t;
  // t0 = f(in); t1 = f(t0); t2 = f(t0, t1); t3 = f(t2); t4 = f(t3, t0)  (t0 lives long)
  const uint64_t sizes[] = {1000, 3000, 500, 3000, 700};
  for (int i = 0; i < 5; ++i) t.push_back(g.activation("t" + std::to_string(i), sizes[i]));
  g.add("n0", AddOp{1, 1}, {in}, t[0]);
  g.add("n1", AddOp{1, 1}, {t[0]}, t[1]);
  g.add("n2", AddOp{1, 1}, {t[0], t[1]}, t[2]);
  g.add("n3", AddOp{1, 1}, {t[2]}, t[3]);
  g.add("n4", AddOp{1, 1}, {t[3], t[0]}, t[4]);
  MemoryPlan plan = plan_memory(g, 64);
  auto life = [](int i) {
    const int first[] = {0, 1, 2, 3, 4}, last[] = {4, 2, 3, 4, 4};
    return std::pair{first[i], last[i]};
  };
  for (int a = 0; a < 5; ++a) {
    CHECK(plan.offset[t[a]] % 64 == 0);
    CHECK(plan.offset[t[a]] + sizes[a] <= plan.arena_bytes);
    for (int b = a + 1; b < 5; ++b) {
      const auto [fa, la] = life(a);
      const auto [fb, lb] = life(b);
      const bool live_together = fa <= lb && fb <= la;
      const bool share = plan.offset[t[a]] < plan.offset[t[b]] + sizes[b] &&
                         plan.offset[t[b]] < plan.offset[t[a]] + sizes[a];
      if (live_together) CHECK_MESSAGE(!share, "t" << a << " and t" << b << " overlap");
    }
  }
  CHECK(plan.arena_bytes < plan.unshared_bytes);  // t1 and t3 can share
}

TEST_CASE("executor: a chain of dependent adds gives the right sum with one barrier per step") {
  const uint32_t n = 33;
  auto in = test::random_floats(n, 1), b = test::random_floats(n, 2);
  rt::Buffer din = test::upload(in), db = test::upload(b), dout = test::poisoned(n * 4);
  Graph g = add_chain(6, n, db, din, dout);
  MemoryPlan plan =
      plan_memory(g, std::max<uint64_t>(test::context().info().min_storage_offset_alignment, 64));
  rt::Buffer arena = test::context().create_buffer(plan.arena_bytes);
  bind_arena(g, plan, arena);
  Ops ops(test::context());
  RecordStats stats;
  test::run([&](rt::Sequence& s) { stats = record_graph(g, ops, s); });
  CHECK(stats.dispatches == 6);
  CHECK(stats.barriers == 5);
  std::vector<float> want(n);
  for (uint32_t i = 0; i < n; ++i) {
    float x = in[i];
    for (int k = 0; k < 6; ++k) x += b[i];
    want[i] = x;
  }
  test::check_close(test::download<float>(dout, n), want, 1e-6, 1e-6, "chain");
  test::check_no_validation_messages();
}

TEST_CASE("executor: independent nodes get no barrier between them") {
  const uint32_t n = 17;
  auto a = test::random_floats(n, 3);
  rt::Buffer da = test::upload(a), o1 = test::poisoned(n * 4), o2 = test::poisoned(n * 4);
  Graph g;
  const int ta = g.external("a", n * 4, da);
  g.add("double", AddOp{n, n}, {ta, ta}, g.external("o1", n * 4, o1));
  g.add("double again", AddOp{n, n}, {ta, ta}, g.external("o2", n * 4, o2));
  Ops ops(test::context());
  RecordStats stats;
  test::run([&](rt::Sequence& s) { stats = record_graph(g, ops, s); });
  CHECK(stats.barriers == 0);
  std::vector<float> want(n);
  for (uint32_t i = 0; i < n; ++i) want[i] = a[i] + a[i];
  test::check_close(test::download<float>(o1, n), want, 1e-6, 1e-6, "o1");
  test::check_close(test::download<float>(o2, n), want, 1e-6, 1e-6, "o2");
  test::check_no_validation_messages();
}
