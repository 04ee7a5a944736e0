// Shared pieces of the vkllm subcommands.
#pragma once
#include <string>

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

// Opens a model file; GGUF problems become "<file>: <what is wrong>".
GGUFFile open_model_file(const std::string& path);

// `s` with JSON string escapes (no quotes added).
std::string json_escape(const std::string& s);

// The embedded default model: <exe>/../share/vkllm/stories260K.gguf, else the source tree's copy.
std::string default_model_path();

// Subcommands: each adds itself to `app`; failures are thrown and printed by main().
void register_devices(CLI::App& app);
void register_run(CLI::App& app);
void register_bench(CLI::App& app);

}  // namespace vkllm::app
