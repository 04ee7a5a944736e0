#include "runtime/ceilings.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace vkllm::rt {

namespace {

constexpr uint32_t kChains = 8;  // shaders/bench_fma.comp
constexpr uint32_t kRounds = 3;
constexpr float kFmaM = 0.999f;
constexpr float kFmaC = 0.001f;
constexpr const char* kMagic = "vkllm-ceilings 4";  // bumped when a micro-kernel or a field changes

uint32_t workgroup_size(const DeviceInfo& info) {
  return std::max(1u, std::min({256u, info.max_workgroup_size[0], info.max_workgroup_invocations}));
}

// Groups for `threads` invocations in workgroups of `wg`, spilling into y past the x limit.
std::array<uint32_t, 3> groups_for(const DeviceInfo& info, uint64_t threads, uint32_t wg) {
  const uint64_t groups = std::max<uint64_t>(1, (threads + wg - 1) / wg);
  const uint64_t x = std::min<uint64_t>(groups, info.max_workgroup_count[0]);
  const uint64_t y = (groups + x - 1) / x;
  if (y > info.max_workgroup_count[1])
    throw DeviceError(fmt::format("micro-kernel of {} invocations is too large", threads));
  return {static_cast<uint32_t>(x), static_cast<uint32_t>(y), 1};
}

bool good(double x) {
  return std::isfinite(x) && x > 0.0;
}

// Best (smallest) GPU time of `reps` dispatches recorded by `record`, each behind a barrier, in
// kRounds separate submissions (a device shared with other work, e.g. a CPU driver on a loaded
// machine, can be slow for a whole submission).
template <class F>
double best_ms(Context& ctx, uint32_t reps, F&& record) {
  Sequence seq(ctx, true);
  if (!seq.timestamps())
    throw DeviceError(
        fmt::format("device '{}' has no timestamp queries on its compute queue", ctx.info().name));
  seq.begin();
  record(seq);  // warm-up: first-use costs (pipeline compilation, page faults)
  for (uint32_t r = 0; r < reps; ++r) {
    seq.barrier();
    record(seq);
  }
  seq.end();
  double best = std::numeric_limits<double>::infinity();
  for (uint32_t round = 0; round < kRounds; ++round) {
    seq.submit_and_wait();
    const auto t = seq.timings();
    for (size_t i = 1; i < t.size(); ++i) best = std::min(best, t[i].ms);
  }
  return best;
}

// Host wall time per dispatch: sequences of 1 and 1 + n barrier-separated two-workgroup copies,
// each replayed without timestamps; the best of `reps` submissions each, the difference over n
// (so the submission and the wait for it cancel out).
double dispatch_cost_us(Context& ctx, uint32_t n, uint32_t reps) {
  const uint32_t n_vec4 = 2 * workgroup_size(ctx.info());
  Buffer src = ctx.create_buffer(uint64_t{n_vec4} * 16, "dispatch_cost.src");
  Buffer dst = ctx.create_buffer(uint64_t{n_vec4} * 16, "dispatch_cost.dst");
  auto best_us = [&](uint32_t dispatches) {
    Sequence seq(ctx);
    seq.begin();
    seq.fill(src, 0, uint64_t{n_vec4} * 16, 0x3f800000u);
    for (uint32_t i = 0; i < dispatches; ++i) {
      seq.barrier();
      record_bench_copy(ctx, seq, src, dst, n_vec4);
    }
    seq.end();
    seq.submit_and_wait();  // warm-up
    double best = std::numeric_limits<double>::infinity();
    for (uint32_t r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      seq.submit_and_wait();
      best = std::min(
          best,
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  const double one = best_us(1), many = best_us(1 + n);
  // Below the timer's resolution (never seen): the whole sequence's mean, an upper bound.
  return many > one ? (many - one) / n : many / (1 + n);
}

}  // namespace

void record_bench_copy(Context& ctx, Sequence& seq, const Buffer& src, const Buffer& dst,
                       uint32_t n_vec4) {
  const uint32_t wg = workgroup_size(ctx.info());
  const auto& p = ctx.pipeline({"bench_copy", 2, sizeof(uint32_t), {wg}});
  const uint64_t bytes = uint64_t{n_vec4} * 16;
  seq.dispatch(p, {BufferRange(src, 0, bytes), BufferRange(dst, 0, bytes)}, n_vec4,
               groups_for(ctx.info(), n_vec4, wg), "bench_copy");
}

void record_bench_fma(Context& ctx, Sequence& seq, const Buffer& out, uint32_t threads,
                      uint32_t iters, float m, float c) {
  struct {
    uint32_t n, iters;
    float m, c;
  } push{threads, iters, m, c};
  const uint32_t wg = workgroup_size(ctx.info());
  const auto& p = ctx.pipeline({"bench_fma", 1, sizeof(push), {wg}});
  seq.dispatch(p, {BufferRange(out, 0, uint64_t{threads} * 4)}, push,
               groups_for(ctx.info(), threads, wg), "bench_fma");
}

float bench_fma_reference(uint32_t i, uint32_t iters, float m, float c) {
  float a[kChains];
  for (uint32_t j = 0; j < kChains; ++j)
    a[j] = static_cast<float>(i % 1024u) / 1024.0f + static_cast<float>(j) / 8.0f;
  for (uint32_t k = 0; k < iters; ++k)
    for (uint32_t j = 0; j < kChains; ++j) a[j] = std::fma(a[j], m, c);
  float s = 0.0f;
  for (uint32_t j = 0; j < kChains; ++j) s += a[j];
  return s;
}

double bench_fma_flops(uint32_t threads, uint32_t iters) {
  return 2.0 * kChains * static_cast<double>(threads) * iters;
}

Ceilings measure_ceilings(Context& ctx, const CeilingOptions& o) {
  const DeviceInfo& info = ctx.info();
  const bool cpu = info.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  uint64_t copy_bytes = o.copy_bytes ? o.copy_bytes : (cpu ? 64ull : 256ull) << 20;
  copy_bytes = std::min(copy_bytes, info.max_storage_buffer_range);
  if (info.max_allocation_size) copy_bytes = std::min(copy_bytes, info.max_allocation_size);
  copy_bytes = std::max<uint64_t>(copy_bytes / 16 * 16, 16);
  const uint32_t threads = o.fma_threads ? o.fma_threads : (cpu ? 1u << 14 : 1u << 21);
  const uint32_t reps = std::max(o.repetitions, 1u);

  Ceilings c;
  {
    Buffer src = ctx.create_buffer(copy_bytes, "bench_copy.src");
    Buffer dst = ctx.create_buffer(copy_bytes, "bench_copy.dst");
    Sequence init(ctx);
    init.begin();
    init.fill(src, 0, copy_bytes, 0x3f800000u);
    init.end();
    init.submit_and_wait();
    const uint32_t n = static_cast<uint32_t>(copy_bytes / 16);
    const double ms =
        best_ms(ctx, reps, [&](Sequence& s) { record_bench_copy(ctx, s, src, dst, n); });
    c.copy_gbps = 2.0 * static_cast<double>(copy_bytes) / (ms * 1e6);
  }
  {
    Buffer out = ctx.create_buffer(uint64_t{threads} * 4, "bench_fma.out");
    const double ms = best_ms(ctx, reps, [&](Sequence& s) {
      record_bench_fma(ctx, s, out, threads, o.fma_iters, kFmaM, kFmaC);
    });
    c.fma_gflops = bench_fma_flops(threads, o.fma_iters) / (ms * 1e6);
  }
  c.dispatch_us = dispatch_cost_us(ctx, std::max(o.dispatches, 1u), reps);
  if (!good(c.copy_gbps) || !good(c.fma_gflops) || !good(c.dispatch_us))
    throw DeviceError(
        fmt::format("device ceilings came out as {} GB/s, {} GFLOP/s and {} us per "
                    "dispatch",
                    c.copy_gbps, c.fma_gflops, c.dispatch_us));
  return c;
}

std::string ceilings_cache_path(const DeviceInfo& info, const std::string& dir,
                                const std::string& driver_setting) {
  std::string tag;
  for (char ch : driver_setting) tag += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return (std::filesystem::path(dir) / fmt::format("ceilings-{}-{}{}{}.txt", info.uuid_string(),
                                                   info.driver_version, tag.empty() ? "" : "-",
                                                   tag))
      .string();
}

std::string host_signature() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    const size_t value =
        colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
    if (value != std::string::npos) model = line.substr(value);
    break;
  }
  return fmt::format("{} x{}", model, std::max(1u, std::thread::hardware_concurrency()));
}

std::optional<Ceilings> load_ceilings(const std::string& path, const std::string& host) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line) || line != kMagic) return std::nullopt;
  if (!std::getline(in, line) || line != "host " + host) return std::nullopt;
  Ceilings c;
  bool have_copy = false, have_fma = false, have_dispatch = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    double v = 0.0;
    if (!(ls >> key >> v)) continue;
    if (key == "copy_gbps") c.copy_gbps = v, have_copy = true;
    if (key == "fma_gflops") c.fma_gflops = v, have_fma = true;
    if (key == "dispatch_us") c.dispatch_us = v, have_dispatch = true;
  }
  if (!have_copy || !have_fma || !have_dispatch || !good(c.copy_gbps) || !good(c.fma_gflops) ||
      !good(c.dispatch_us))
    return std::nullopt;
  c.from_cache = true;
  return c;
}

bool save_ceilings(const std::string& path, const Ceilings& c, const std::string& host) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << kMagic << "\nhost " << host << "\n"
        << fmt::format("copy_gbps {:.6g}\nfma_gflops {:.6g}\ndispatch_us {:.6g}\n", c.copy_gbps,
                       c.fma_gflops, c.dispatch_us);
    if (!out) return false;
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

Ceilings device_ceilings(Context& ctx, bool remeasure, std::string dir) {
  if (dir.empty()) {
    const std::string& pc = ctx.pipeline_cache_path();
    dir = pc.empty() ? default_cache_dir() : std::filesystem::path(pc).parent_path().string();
  }
  const std::string path =
      dir.empty() ? std::string()
                  : ceilings_cache_path(
                        ctx.info(), dir,
                        ctx.work_lanes() > 1
                            ? fmt::format("{} split {}", ctx.driver_setting(), ctx.work_lanes())
                            : ctx.driver_setting());
  if (!remeasure && !path.empty())
    if (auto c = load_ceilings(path)) return *c;
  Ceilings c = measure_ceilings(ctx);
  if (!path.empty()) save_ceilings(path, c);
  return c;
}

}  // namespace vkllm::rt
