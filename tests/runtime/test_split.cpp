// Split contexts: one device opened through two driver instances that share memory, every
// dispatch's workgroups divided between them and the lanes meeting at each barrier.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/context.h"
#include "runtime/sequence.h"
#include "shaders/registry.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

// Two lanes spin at each meeting: with fewer cores than lanes they take turns and meetings run
// out of time, so these tests need two cores.
std::unique_ptr<rt::Context> split_context() {
  if (std::thread::hardware_concurrency() < 2) {
    MESSAGE("one core: no split context");
    return nullptr;
  }
  return test::split_context(2);
}

std::vector<float> read(rt::Context& ctx, const rt::Buffer& b, size_t n) {
  std::vector<float> out(n);
  ctx.download(b, 0, out.data(), n * sizeof(float));
  return out;
}

}  // namespace

TEST_CASE("split: two lanes share every buffer and split each dispatch's workgroups") {
  auto ctx = split_context();
  if (!ctx) return;
  REQUIRE(ctx->lanes() == 2);
  CHECK(ctx->allocator().imports());
  // add.comp: c[i] = a[i] + b[i] over a 2-D grid when x runs out (x + y * gl_NumWorkGroups.x).
  const auto& add = ctx->pipeline({"add", 3, 8, {64}});
  for (const auto [n, gx, gy] : {std::array<uint32_t, 3>{1, 1, 1},
                                 {7 * 64, 7, 1},
                                 {33 * 64 - 5, 33, 1},
                                 {3 * 5 * 64, 3, 5},
                                 {4097, 65, 1}}) {
    CAPTURE(n);
    CAPTURE(gy);
    const auto a = test::random_floats(n, 11 + n), b = test::random_floats(n, 12 + n);
    rt::Buffer ba = ctx->create_buffer(n * 4), bb = ctx->create_buffer(n * 4),
               bc = ctx->create_buffer(n * 4), bd = ctx->create_buffer(n * 4);
    ctx->upload(ba, 0, a.data(), n * 4);
    ctx->upload(bb, 0, b.data(), n * 4);
    std::memset(bc.mapped(), 0xff, n * 4);  // poisoned: every element must be written
    std::memset(bd.mapped(), 0xff, n * 4);
    rt::Sequence seq(*ctx);
    seq.begin();
    const uint32_t push[2] = {n, n};
    // c = a + b; barrier; d = c + c, so each lane reads what the other wrote.
    seq.dispatch(add, {ba, bb, bc}, push, {gx, gy, 1});
    seq.barrier();
    seq.dispatch(add, {bc, bc, bd}, push, {gx, gy, 1});
    seq.end();
    for (int replay = 0; replay < 3; ++replay) {
      seq.submit_and_wait();
      const auto d = read(*ctx, bd, n);
      std::vector<float> want(n);
      for (uint32_t i = 0; i < n; ++i) want[i] = (a[i] + b[i]) + (a[i] + b[i]);
      test::check_close(d, want, 0.0, 1.0, fmt::format("replay {}", replay));
    }
  }
  CHECK(ctx->validation_messages() == 0);
}

TEST_CASE("split: a chain of dependent dispatches replays exactly; timestamps cover the lanes") {
  auto ctx = split_context();
  if (!ctx) return;
  const uint32_t n = 12345, groups = (n + 63) / 64;
  const auto a = test::random_floats(n, 3), b = test::random_floats(n, 4);
  rt::Buffer x = ctx->create_buffer(n * 4), y = ctx->create_buffer(n * 4),
             bb = ctx->create_buffer(n * 4);
  ctx->upload(bb, 0, b.data(), n * 4);
  const auto& add = ctx->pipeline({"add", 3, 8, {64}});
  const uint32_t push[2] = {n, n};
  rt::Sequence seq(*ctx, true);
  seq.begin();
  // x = a (a copy on lane 0 only), then x and y alternate: each step adds b to the other.
  rt::Buffer src = ctx->create_buffer(n * 4);
  ctx->upload(src, 0, a.data(), n * 4);
  seq.copy(src, 0, x, 0, n * 4);
  seq.barrier();
  const int steps = 9;
  for (int s = 0; s < steps; ++s) {
    const rt::Buffer& from = s % 2 ? y : x;
    const rt::Buffer& to = s % 2 ? x : y;
    seq.dispatch(add, {from, bb, to}, push, {groups, 1, 1});
    seq.barrier();
  }
  seq.end();
  std::vector<float> want = a;
  for (int s = 0; s < steps; ++s)
    for (uint32_t i = 0; i < n; ++i) want[i] += b[i];
  // The meeting kernel's own output: each lane's arrival count (one 64-byte line each) grows by
  // the submission's meetings, one per barrier (the copy's and the steps'), the same on both
  // lanes; the flag after them stays clear.
  auto counts = [&] {
    std::array<uint32_t, 3> c{};
    for (uint32_t i = 0; i < 3; ++i) std::memcpy(&c[i], ctx->split_counters().mapped() + 64 * i, 4);
    return c;
  };
  for (int replay = 0; replay < 2; ++replay) {
    std::memset(y.mapped(), 0xff, n * 4);
    const auto before = counts();
    seq.submit_and_wait();
    const auto after = counts();
    CHECK(after[0] - before[0] == 1 + steps);
    CHECK(after[1] - before[1] == 1 + steps);
    CHECK(after[2] == 0);
    CHECK(seq.reruns() == 0);
    test::check_close(read(*ctx, steps % 2 ? y : x, n), want, 0.0, 1.0);
  }
  if (ctx->info().timestamps) {
    const auto t = seq.timings();
    CHECK(t.size() == 1 + steps);  // the copy and each dispatch
    for (const auto& d : t) CHECK(d.ms >= 0.0);
  }
  CHECK(ctx->validation_messages() == 0);
}

// bench_fma with one workgroup: lane 0 runs every dispatch, lane 1 goes straight to the meeting
// after them and waits there. Returns the last output.
std::vector<float> run_long(rt::Context& ctx, rt::Sequence& seq, int dispatches) {
  const auto& fma = ctx.pipeline({"bench_fma", 1, 16, {64}});
  struct {
    uint32_t n, iters;
    float m, c;
  } push{64, 400000, 0.999f, 0.001f};  // ~10 ms each here
  std::vector<rt::Buffer> outs;
  seq.begin();
  for (int i = 0; i < dispatches; ++i) {
    outs.push_back(ctx.create_buffer(64 * 4));
    std::memset(outs.back().mapped(), 0xff, 64 * 4);
    seq.dispatch(fma, {outs.back()}, push, {1, 1, 1});
  }
  seq.barrier();
  seq.end();
  seq.submit_and_wait();
  return read(ctx, outs.back(), 64);
}

TEST_CASE("split: a lane waits at a meeting while the other runs long dispatches") {
  auto ctx = split_context();
  if (!ctx) return;
  rt::Sequence seq(*ctx);
  const auto out = run_long(*ctx, seq, 4);
  CHECK(seq.reruns() == 0);
  CHECK(out[5] > 0.0f);
  CHECK(ctx->validation_messages() == 0);
}

TEST_CASE("split: lanes that do not meet in time run the submission again on one lane") {
  auto ctx = split_context();
  if (!ctx) return;
  // Far past the meeting's wait (llvmpipe's loop limit, ~0.1 s here): lane 1 gives up, so the
  // lanes' results do not count and lane 0 runs the whole recording again.
  rt::Sequence seq(*ctx);
  const auto out = run_long(*ctx, seq, 60);
  CHECK(seq.reruns() == 1);
  for (float v : out) CHECK(v > 0.0f);  // written by the re-run (the buffers were poisoned)
  CHECK_FALSE(ctx->take_split_miss());
  CHECK(ctx->validation_messages() == 0);
}

namespace {

// y = a * f; z = y + a; y = z with three pipelines new to the context (scale, add, copy), on
// poisoned outputs.
struct Chain {
  rt::Context& ctx;
  uint32_t n;
  float f;
  std::vector<float> a = test::random_floats(n, 21);
  rt::Buffer x = ctx.create_buffer(n * 4), y = ctx.create_buffer(n * 4),
             z = ctx.create_buffer(n * 4);
  const rt::Pipeline& scale = ctx.pipeline({"scale", 2, 8, {64}});
  const rt::Pipeline& add = ctx.pipeline({"add", 3, 8, {64}});
  const rt::Pipeline& copy = ctx.pipeline({"copy", 2, 4, {64}});
  struct {
    uint32_t n;
    float s;
  } scale_push{n, f};
  uint32_t add_push[2] = {n, n}, copy_push = n, groups = (n + 63) / 64;

  Chain(rt::Context& c, uint32_t count, float factor) : ctx(c), n(count), f(factor) {
    ctx.upload(x, 0, a.data(), n * 4);
  }
  void record(rt::Sequence& seq) {
    seq.dispatch(scale, {x, y}, scale_push, {groups, 1, 1});
    seq.barrier();
    seq.dispatch(add, {y, x, z}, add_push, {groups, 1, 1});
    seq.barrier();
    seq.dispatch(copy, {z, y}, copy_push, {groups, 1, 1});
  }
  // Runs the recorded sequence twice, checking y each time.
  void run_and_check(rt::Sequence& seq) {
    std::vector<float> want(n);
    for (uint32_t i = 0; i < n; ++i) want[i] = a[i] * f + a[i];
    for (int replay = 0; replay < 2; ++replay) {
      std::memset(y.mapped(), 0xff, n * 4);
      std::memset(z.mapped(), 0xff, n * 4);
      seq.submit_and_wait();
      CHECK(seq.reruns() == 0);
      test::check_close(read(ctx, y, n), want, 0.0, 1.0, fmt::format("replay {}", replay));
    }
  }
};

}  // namespace

TEST_CASE("split: each new pipeline compiles on one lane first, all before the lanes meet") {
  auto ctx = split_context();
  if (!ctx) return;
  Chain c(*ctx, 1000, 0.5f);
  rt::Sequence seq(*ctx);
  // A recording abandoned before end(). Each new pipeline is compiled first on the lane with the
  // least SPIR-V so far: bench_fma (the largest) on lane 0, then scale and add both on lane 1
  // (together still smaller); the other lane's turn at each is dropped, so it compiles them when
  // next used.
  const auto& fma = ctx->pipeline({"bench_fma", 1, 16, {64}});
  REQUIRE(shaders::find("bench_fma").size() >
          shaders::find("scale").size() + shaders::find("add").size());
  rt::Buffer out = ctx->create_buffer(128 * 4);
  const struct {
    uint32_t n, iters;
    float m, c;
  } fma_push{128, 10, 0.999f, 0.001f};
  seq.begin();
  seq.dispatch(fma, {out}, fma_push, {2, 1, 1});
  seq.dispatch(c.scale, {c.x, c.y}, c.scale_push, {c.groups, 1, 1});
  seq.dispatch(c.add, {c.x, c.x, c.z}, c.add_push, {c.groups, 1, 1});
  seq.begin();
  CHECK_FALSE(ctx->first_use(fma, 0));
  CHECK(ctx->first_use(fma, 1));
  for (const rt::Pipeline* p : {&c.scale, &c.add}) {
    CHECK(ctx->first_use(*p, 0));
    CHECK_FALSE(ctx->first_use(*p, 1));
    ctx->forget_use(*p, 0);
  }
  // The three pipelines are compiled on every lane before the first submission, with no lane
  // left behind at a meeting.
  c.record(seq);
  seq.end();
  for (uint32_t lane = 0; lane < 2; ++lane)
    for (const rt::Pipeline* p : {&c.scale, &c.add, &c.copy}) CHECK_FALSE(ctx->first_use(*p, lane));
  c.run_and_check(seq);
  CHECK(ctx->validation_messages() == 0);
}

TEST_CASE("split: lanes that only compile; every dispatch runs whole on lane 0") {
  auto ctx = test::split_context(2, /*split_dispatches=*/false);
  if (!ctx) return;
  REQUIRE(ctx->lanes() == 2);
  CHECK(ctx->work_lanes() == 1);
  Chain c(*ctx, 3000, -2.0f);
  rt::Sequence seq(*ctx, /*timestamps=*/true);
  seq.begin();
  c.record(seq);
  seq.end();
  // Each lane has had each pipeline compiled, lane 1 without running any dispatch.
  for (uint32_t lane = 0; lane < 2; ++lane)
    for (const rt::Pipeline* p : {&c.scale, &c.add, &c.copy}) CHECK(ctx->used(*p, lane));
  c.run_and_check(seq);
  if (ctx->info().timestamps) CHECK(seq.timings().size() == 3);
  CHECK_FALSE(ctx->take_split_miss());
  CHECK(ctx->validation_messages() == 0);
}

TEST_CASE("split: one submission at a time") {
  auto ctx = split_context();
  if (!ctx) return;
  const auto& add = ctx->pipeline({"add", 3, 8, {64}});
  rt::Buffer a = ctx->create_buffer(256), c = ctx->create_buffer(256), d = ctx->create_buffer(256);
  const uint32_t push[2] = {64, 64};
  rt::Sequence s1(*ctx), s2(*ctx);
  for (rt::Sequence* s : {&s1, &s2}) {
    s->begin();
    s->dispatch(add, {a, a, s == &s1 ? c : d}, push, {1, 1, 1});
    s->end();
  }
  s1.submit();
  CHECK_THROWS_WITH_AS(s2.submit(), doctest::Contains("one submission at a time"), rt::DeviceError);
  s1.wait();
  CHECK_NOTHROW(s2.submit_and_wait());
}

TEST_CASE("split: a device without host memory import is refused with a clear error") {
  rt::ContextOptions o;
  o.notices = false;
  o.pipeline_cache = false;
  o.split = 2;
  o.before_device = [](const rt::DeviceInfo& info) {
    rt::DriverSetup s;
    s.split = info.host_memory_import ? 2 : 3;
    return s;
  };
  auto probe = split_context();
  if (probe) {
    // Supported here: the context opens with the lanes before_device chose.
    rt::Context ctx(o);
    CHECK(ctx.lanes() == 2);
  } else {
    std::string err;
    try {
      rt::Context ctx(o);
    } catch (const rt::DeviceError& e) {
      err = e.what();
    }
    CHECK(err.find("VK_EXT_external_memory_host") != std::string::npos);
  }
}
