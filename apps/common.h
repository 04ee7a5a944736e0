// Shared pieces of the vkllm subcommands.
#pragma once
#include <string>

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

// The embedded default model: <exe>/../share/vkllm/stories260K.gguf, else the source tree's copy.
std::string default_model_path();

// Subcommands; each returns the process exit code.
void register_devices(CLI::App& app);
void register_run(CLI::App& app);

}  // namespace vkllm::app
