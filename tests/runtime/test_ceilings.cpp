// Device ceilings: the two micro-kernels against CPU references, the measurements (bandwidth,
// FLOP/s, cost per dispatch), and their cache.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "runtime/ceilings.h"
#include "support/scratch.h"
#include "support/vk_test.h"

using namespace vkllm;
namespace fs = std::filesystem;

namespace {

fs::path empty_dir(const char* name) {
  fs::path d = test::scratch_dir() / (std::string("ceilings-") + name);
  fs::remove_all(d);
  return d;
}

}  // namespace

TEST_CASE("ceilings: bench_copy copies every vec4 exactly") {
  auto& ctx = test::context();
  const uint32_t n_vec4 = 1000 * 1000 / 4 + 3;  // not a multiple of the workgroup size
  const auto data = test::random_floats(size_t{n_vec4} * 4, 7);
  rt::Buffer src = test::upload(data);
  rt::Buffer dst = test::poisoned(uint64_t{n_vec4} * 16);
  test::run([&](rt::Sequence& s) { rt::record_bench_copy(ctx, s, src, dst, n_vec4); });
  const auto got = test::download<float>(dst, data.size());
  CHECK(std::memcmp(got.data(), data.data(), data.size() * 4) == 0);
  test::check_no_validation_messages();
}

TEST_CASE("ceilings: bench_fma matches the same FMA chains computed on the CPU") {
  auto& ctx = test::context();
  const uint32_t threads = 2000, iters = 300;
  const float m = 0.97f, c = 0.02f;
  rt::Buffer out = test::poisoned(uint64_t{threads} * 4);
  test::run([&](rt::Sequence& s) { rt::record_bench_fma(ctx, s, out, threads, iters, m, c); });
  const auto got = test::download<float>(out, threads);
  std::vector<float> want(threads);
  for (uint32_t i = 0; i < threads; ++i) want[i] = rt::bench_fma_reference(i, iters, m, c);
  test::check_close(got, want, 1e-5, 1.0, "bench_fma");
  CHECK(rt::bench_fma_flops(threads, iters) == doctest::Approx(2.0 * 8 * threads * iters));
  test::check_no_validation_messages();
}

TEST_CASE("ceilings: measured bandwidth, FLOP/s and dispatch cost are positive and finite") {
  auto& ctx = test::context();
  if (!ctx.info().timestamps) {
    CHECK_THROWS_AS(rt::measure_ceilings(ctx), rt::DeviceError);
    return;
  }
  rt::CeilingOptions o;
  o.copy_bytes = 4 << 20;
  o.fma_threads = 4096;
  o.fma_iters = 256;
  o.repetitions = 2;
  o.dispatches = 8;
  const rt::Ceilings c = rt::measure_ceilings(ctx, o);
  CHECK(std::isfinite(c.copy_gbps));
  CHECK(c.copy_gbps > 0.0);
  CHECK(std::isfinite(c.fma_gflops));
  CHECK(c.fma_gflops > 0.0);
  CHECK(std::isfinite(c.dispatch_us));
  CHECK(c.dispatch_us > 0.0);
  CHECK(!c.from_cache);
  test::check_no_validation_messages();
}

TEST_CASE("ceilings: the cache file round-trips and is keyed by device and driver") {
  const fs::path dir = empty_dir("cache");
  const auto& info = test::context().info();
  const std::string path = rt::ceilings_cache_path(info, dir.string());
  CHECK(path.find(info.uuid_string()) != std::string::npos);
  CHECK(path.find(std::to_string(info.driver_version)) != std::string::npos);
  CHECK(!rt::load_ceilings(path));

  rt::Ceilings c{12.5, 345.25, 21.75, false};
  REQUIRE(rt::save_ceilings(path, c));
  auto back = rt::load_ceilings(path);
  REQUIRE(back);
  CHECK(back->copy_gbps == doctest::Approx(12.5));
  CHECK(back->fma_gflops == doctest::Approx(345.25));
  CHECK(back->dispatch_us == doctest::Approx(21.75));
  CHECK(back->from_cache);

  // device_ceilings takes the cached numbers instead of measuring.
  const rt::Ceilings cached = rt::device_ceilings(test::context(), false, dir.string());
  CHECK(cached.from_cache);
  CHECK(cached.copy_gbps == doctest::Approx(12.5));

  // Malformed or non-positive contents are ignored.
  const std::string head = "vkllm-ceilings 4\nhost " + rt::host_signature() + "\n";
  for (const std::string& bad :
       {std::string("garbage\n"), head + "copy_gbps 0\nfma_gflops 3\ndispatch_us 2\n",
        head + "copy_gbps nan\nfma_gflops 3\ndispatch_us 2\n",
        head + "copy_gbps 4\nfma_gflops 3\ndispatch_us -1\n",
        head + "copy_gbps 4\nfma_gflops 3\n" /* no dispatch cost */,
        std::string("vkllm-ceilings 3\ncopy_gbps 4\nfma_gflops 3\ndispatch_us 2\n") /* before */,
        std::string(
            "vkllm-ceilings 4\ncopy_gbps 4\nfma_gflops 3\ndispatch_us 2\n") /* no host */}) {
    std::ofstream(path, std::ios::trunc) << bad;
    CHECK_MESSAGE(!rt::load_ceilings(path), bad);
  }
  std::ofstream(path, std::ios::trunc) << head + "copy_gbps 4\nfma_gflops 3\ndispatch_us 2\n";
  CHECK(rt::load_ceilings(path));

  // Numbers measured on another machine (a cache directory copied over, or lavapipe's UUID,
  // the same everywhere) are measured again.
  REQUIRE(rt::save_ceilings(path, c, "Some Other CPU x64"));
  CHECK(!rt::load_ceilings(path));
  CHECK(rt::load_ceilings(path, "Some Other CPU x64"));
  const rt::Ceilings measured = rt::device_ceilings(test::context(), false, dir.string());
  CHECK_FALSE(measured.from_cache);
  CHECK(rt::load_ceilings(path));  // and saved for this host
  fs::remove_all(dir);
}
