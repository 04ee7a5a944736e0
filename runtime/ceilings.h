// Device ceilings: the memory bandwidth and FMA throughput a device reaches on two micro-kernels
// (shaders/bench_copy.comp, shaders/bench_fma.comp), timed with GPU timestamps, best of a few
// repetitions, and the fixed cost of a dispatch (host wall time per dispatch of a replayed
// sequence of tiny ones). Cached per device (UUID + driver version) next to the pipeline cache,
// so profiles can say what fraction of the device an op reaches and what its dispatches cost.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "runtime/context.h"
#include "runtime/sequence.h"

namespace vkllm::rt {

struct Ceilings {
  double copy_gbps = 0.0;   // bytes read + written per second / 1e9
  double fma_gflops = 0.0;  // FLOP/s / 1e9 (an FMA counts 2)
  // Microseconds per dispatch of a barrier-separated sequence of two-workgroup copies (one vec4
  // per invocation), replayed without timestamps (wall time, submission cost subtracted): what a
  // dispatch costs whatever it does (on a CPU driver, the hand-off to its threads).
  double dispatch_us = 0.0;
  bool from_cache = false;
};

struct CeilingOptions {
  uint64_t copy_bytes = 0;    // bytes copied per repetition; 0: chosen from the device
  uint32_t fma_threads = 0;   // invocations of the FMA kernel; 0: chosen from the device
  uint32_t fma_iters = 2048;  // FMAs per chain (8 chains per invocation)
  uint32_t repetitions = 5;
  uint32_t dispatches = 64;  // dispatches in the dispatch-cost sequence
};

// Measures the ceilings now. Throws DeviceError if the device has no timestamp queries.
Ceilings measure_ceilings(Context& ctx, const CeilingOptions& options = {});

// The ceilings of ctx's device: read from the cache file in `dir` (empty: the pipeline cache's
// directory, i.e. VKLLM_PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/vkllm, else ~/.cache/vkllm), or
// measured and written there when absent, unreadable, or `remeasure` is set. An unwritable cache
// directory is not an error.
Ceilings device_ceilings(Context& ctx, bool remeasure = false, std::string dir = {});

// The cache file of a device in `dir`: ceilings-<uuid>-<driver version>.txt, or
// ceilings-<uuid>-<driver version>-<setting>.txt under a driver setting (Context::driver_setting,
// letters, digits and '_' kept, the rest '_'): the ceilings differ with the driver's threads.
std::string ceilings_cache_path(const DeviceInfo& info, const std::string& dir,
                                const std::string& driver_setting = {});
// The machine the numbers were measured on: the host CPU's model name and thread count. A device
// UUID does not say it for a CPU device (lavapipe's is the same on every machine), and the cost
// per dispatch is the host's on any device.
std::string host_signature();
// Reads a cache file; nullopt if absent, malformed (numbers must be positive and finite) or
// measured on another host than `host`.
std::optional<Ceilings> load_ceilings(const std::string& path,
                                      const std::string& host = host_signature());
// Writes a cache file for `host` (atomically: temporary file + rename). Returns false on failure.
bool save_ceilings(const std::string& path, const Ceilings& c,
                   const std::string& host = host_signature());

// --- the micro-kernels, exposed for their CPU-reference tests ---
// dst[i] = src[i] for n_vec4 16-byte elements.
void record_bench_copy(Context& ctx, Sequence& seq, const Buffer& src, const Buffer& dst,
                       uint32_t n_vec4);
// out[i] = bench_fma_reference(i, iters, m, c) for i < threads.
void record_bench_fma(Context& ctx, Sequence& seq, const Buffer& out, uint32_t threads,
                      uint32_t iters, float m, float c);
// The FMA kernel's result for invocation i, computed on the CPU in f32 with std::fma.
float bench_fma_reference(uint32_t i, uint32_t iters, float m, float c);
// FLOPs of one FMA kernel dispatch.
double bench_fma_flops(uint32_t threads, uint32_t iters);

}  // namespace vkllm::rt
