// Kernel settings that depend on the device (which matrix kernels, workgroup shapes), kept out of
// the code paths: each starts from a default derived from the device's reported features, then
// the built-in device profile (graph/device_profiles.ini) and the file named by
// VKLLM_DEVICE_PROFILE override it (format: runtime/device_profile.h), then VKLLM_TEXEL_KERNELS,
// VKLLM_PLANAR_LARGER and VKLLM_SPLIT (split_lanes, and no split_max_mib limit).
// Ops reads them once; `vkllm devices` prints them with where each value came from.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "runtime/context.h"
#include "runtime/device.h"

namespace vkllm {

struct KernelTuning {
  // Matrix products and attention through (storage) texel buffers (the texel kernels; off where
  // the device has no texel buffers of the needed formats, whatever the profile says).
  bool texel_kernels = false;
  // The texel matrix kernels give each invocation whole rows (no cross-invocation reduction)
  // rather than splitting a row's blocks over a subgroup.
  bool texel_lanes = false;
  // Invocations per workgroup of the rows-per-invocation kernels: a power of two, 4..64.
  uint32_t lane_width = 0;
  // Rows per invocation of those kernels for batches and for quantized decode (the planar tiles
  // the loader repacks to): 2, 4, 8 or 16.
  uint32_t lane_rows = 8;
  // Rows per invocation for F16/F32 decode: 2, 4 or 8.
  uint32_t lane_rows_one = 2;
  // Tokens per workgroup of the texel kernels for batches: 1..8.
  uint32_t batch_tokens = 8;
  // The same for F16 and BF16 weights (0: batch_tokens): their products decode the least per
  // weight, so more tokens per fetched weight pays there at the same compile cost.
  uint32_t batch_tokens_f16 = 0;
  // Whether the loader repacks for the texel kernels also the formats whose planar form takes
  // more memory than the file (quant/repack.h planar_larger: the K-quants, 5-bit formats, Q4_1,
  // IQ4_NL, IQ4_XS); false keeps those as stored, in the file's size and slower.
  bool planar_larger = true;
  // RMSNorms with one subgroup per row (subgroupAdd, no shared memory) rather than a 128-wide
  // workgroup with a shared-memory reduction, where rows are whole vec4s.
  bool subgroup_norms = false;
  // Consecutive tokens per workgroup of the texel attention kernel for batches of 256 tokens or
  // more (each key and value fetched once for all of them): 1..8, fewer where head_dim * tokens
  // would pass 256.
  uint32_t attention_tokens = 1;
  // A driver setting for small models, "NAME=VALUE" put in the environment before the device is
  // created (on lavapipe LP_NUM_THREADS=0: every dispatch runs on the submitting thread instead of
  // being handed to llvmpipe's worker threads and back), for models of at most
  // single_thread_max_mib MiB of weights. Empty: none. See small_model_setting().
  std::string single_thread_env;
  uint32_t single_thread_max_mib = 0;
  // Larger models on such a driver, up to split_max_mib MiB of weights (0: any size): the lanes
  // to split every dispatch across (one driver instance each, all with single_thread_env;
  // rt::ContextOptions::split), so that the cores work on each dispatch without the driver's
  // worker threads. 1: none (the driver's own threads); 0: one lane per core; never more lanes
  // than cores. Needs VK_EXT_external_memory_host; see driver_setup().
  uint32_t split_lanes = 1;
  uint32_t split_max_mib = 0;
  // Models over split_max_mib: the driver instances that compile each pipeline at its first use
  // (rt::ContextOptions::split_dispatches false; dispatches run whole on the first, with the
  // driver's worker threads), so that a driver that compiles at a pipeline's first dispatch
  // compiles on several cores. 1: one; 0: one per core; never more than cores.
  uint32_t compile_lanes = 1;
  // Workgroup size of the element-wise kernels: a power of two up to the device's limit.
  uint32_t elementwise_wg = 0;
  // Where each setting's value came from: "default", "<profile>:<line>" or an environment variable.
  std::map<std::string, std::string> origin;
};

// The settings for `info`: defaults, the built-in profile, VKLLM_DEVICE_PROFILE, then
// VKLLM_TEXEL_KERNELS and VKLLM_PLANAR_LARGER (0 or 1). Throws rt::ProfileError for a malformed
// profile, an unknown setting or a value out of range (naming the file and line), or an unreadable
// VKLLM_DEVICE_PROFILE file.
KernelTuning kernel_tuning(const rt::DeviceInfo& info);
// The same with the user profile given as text (`origin` names it; empty text: none), and
// without reading the environment: for tests.
KernelTuning kernel_tuning(const rt::DeviceInfo& info, const std::string& user_profile,
                           const std::string& origin);

// "texel_kernels=true texel_lanes=true lane_width=8 ...": every setting's value.
std::string tuning_summary(const KernelTuning& t);
// "batch_tokens (built-in device profile:20), ...": the settings not at their defaults and what
// set them; "defaults only" if none.
std::string tuning_origins(const KernelTuning& t);

// What to do with the driver for a model of `weight_bytes` on a machine of `cores` cores: nothing
// where t.single_thread_env is empty or the environment names its variable already (a user's own
// value wins); else t.single_thread_env, for a model of at most t.single_thread_max_mib MiB on one
// lane, for a larger one up to t.split_max_mib MiB only with t.split_lanes lanes (0: `cores`; at
// most `cores`), at least two and where the device can share memory between instances
// (DeviceInfo::host_memory_import); over t.split_max_mib, t.compile_lanes lanes that only compile
// (0: `cores`; at most `cores`; at least two, where the device can share memory).
rt::DriverSetup driver_setup(const KernelTuning& t, const rt::DeviceInfo& info,
                             uint64_t weight_bytes, uint32_t cores);

// The largest power of two <= v (1 for v = 0): workgroup widths derived from device limits.
uint32_t pow2_floor(uint32_t v);

// The built-in profile's text (graph/device_profiles.ini).
const std::string& builtin_device_profile();

}  // namespace vkllm
