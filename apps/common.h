// Shared pieces of the vkllm subcommands.
#pragma once
#include <cstdint>
#include <string>

#include "quant/formats.h"
#include "quant/gguf.h"
#include "runtime/context.h"

namespace CLI {
class App;
}

namespace vkllm::app {

// Options every subcommand that touches a device takes.
struct DeviceOptions {
  int device = -1;
  bool validation = false;
  bool no_pipeline_cache = false;
};
void add_device_options(CLI::App& cmd, DeviceOptions& o);
rt::ContextOptions context_options(const DeviceOptions& o, bool notices);
// The same for running `file`'s model: where the chosen device's tuning has a driver setting for
// small models (graph/tuning.h small_model_setting) and the model is small enough, the context
// puts it in the environment before creating the device, with a one-line notice.
rt::ContextOptions context_options(const DeviceOptions& o, bool notices, const GGUFFile& file);

// The KV cache's element type: --kv-type f32 (default, exact) or f16 (half the cache memory and
// the attention's reads; keys and values rounded to f16). EngineOptions::kv_half.
struct CacheOptions {
  std::string kv_type = "f32";
};
void add_cache_options(CLI::App& cmd, CacheOptions& o);
// Whether o asks for an f16 cache; std::invalid_argument for a type other than f32 or f16.
bool kv_half(const CacheOptions& o);

// Opens a model file; GGUF problems become "<file>: <what is wrong>".
GGUFFile open_model_file(const std::string& path);

// `s` with JSON string escapes (no quotes added).
std::string json_escape(const std::string& s);

// `s` with its control characters written as escapes (\n, \r, \t, \xNN), so that a message
// quoting a file's bytes (a tensor name, a key) stays on one line.
std::string one_line(const std::string& s);

// The embedded default model: <exe>/../share/vkllm/stories260K.gguf, else the source tree's copy.
std::string default_model_path();

// "F32, F16, BF16, Q8_0, ...": the weight formats vkllm runs (quant/formats.h).
std::string format_names();
// The weight format named `name` (case-insensitive); else std::invalid_argument
// "unknown <what> 'x' (valid: ...)". Defined in cmd_quantize.cpp.
const WeightFormat& parse_weight_format(const std::string& name, const char* what);
// Peak resident memory of this process so far (VmHWM of /proc/self/status), 0 where unknown.
uint64_t peak_rss_bytes();
// "512 B", "4.5 KiB", "16 KiB", "1.2 GiB".
std::string human_bytes(uint64_t n);

// Subcommands: each adds itself to `app`; failures are thrown and printed by main().
void register_devices(CLI::App& app);
void register_run(CLI::App& app);
void register_bench(CLI::App& app);
void register_profile(CLI::App& app);
void register_quantize(CLI::App& app);
void register_make_model(CLI::App& app);
void register_tokenize(CLI::App& app);

}  // namespace vkllm::app
