#include "apps/common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "graph/tuning.h"

namespace vkllm::app {

void add_device_options(CLI::App& cmd, DeviceOptions& o) {
  cmd.add_option("--device", o.device,
                 "Vulkan device index from 'vkllm devices' (default: VKLLM_DEVICE, else the "
                 "best GPU; a CPU device only when nothing else exists)");
  cmd.add_flag("--validation", o.validation,
               "enable the Khronos validation layer with synchronization validation (slow)");
  cmd.add_flag("--no-pipeline-cache", o.no_pipeline_cache,
               "do not read or write the persistent pipeline cache");
}

void add_cache_options(CLI::App& cmd, CacheOptions& o) {
  cmd.add_option("--kv-type", o.kv_type,
                 "KV cache element type: f32 (exact) or f16 (half the memory and the attention's "
                 "reads, keys and values rounded to f16; default f32)");
}

bool kv_half(const CacheOptions& o) {
  if (o.kv_type == "f32") return false;
  if (o.kv_type == "f16") return true;
  throw std::invalid_argument(fmt::format("--kv-type must be f32 or f16, got '{}'", o.kv_type));
}

rt::ContextOptions context_options(const DeviceOptions& o, bool notices) {
  rt::ContextOptions co;
  co.device = o.device;
  if (o.validation) co.validation = 1;
  co.pipeline_cache = !o.no_pipeline_cache;
  co.notices = notices;
  return co;
}

rt::ContextOptions context_options(const DeviceOptions& o, bool notices, const GGUFFile& file) {
  rt::ContextOptions co = context_options(o, notices);
  uint64_t weight_bytes = 0;
  for (const GGUFTensorInfo& t : file.tensors()) weight_bytes += t.n_bytes;
  co.before_device = [weight_bytes, notices](const rt::DeviceInfo& info) -> rt::DriverSetup {
    const KernelTuning t = kernel_tuning(info);
    const rt::DriverSetup setup =
        driver_setup(t, info, weight_bytes, std::max(1u, std::thread::hardware_concurrency()));
    if (notices && setup.compile_only)
      fmt::print(
          stderr,
          "vkllm: {} of weights: the driver's threads run each dispatch; {} driver instances "
          "compile the pipelines (compile_lanes, {})\n",
          human_bytes(weight_bytes), setup.split, t.origin.at("compile_lanes"));
    if (setup.setting.empty()) return setup;
    const size_t eq = setup.setting.find('=');
    const std::string name = setup.setting.substr(0, eq);
    if (::setenv(name.c_str(), setup.setting.substr(eq + 1).c_str(), 1) != 0)
      throw std::runtime_error(fmt::format("cannot set {} in the environment", setup.setting));
    if (notices && setup.split > 1)
      fmt::print(stderr,
                 "vkllm: {} of weights: each dispatch split across {} driver instances with {} "
                 "(split_lanes, {}; VKLLM_SPLIT=1 or setting {} yourself turns it off)\n",
                 human_bytes(weight_bytes), setup.split, setup.setting, t.origin.at("split_lanes"),
                 name);
    else if (notices)
      fmt::print(stderr,
                 "vkllm: a small model ({} of weights): {} for the driver (single_thread_env, "
                 "{}; set {} yourself to choose)\n",
                 human_bytes(weight_bytes), setup.setting, t.origin.at("single_thread_env"), name);
    return setup;
  };
  return co;
}

GGUFFile open_model_file(const std::string& path) {
  try {
    return GGUFFile::open(path);
  } catch (const GGUFError& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string one_line(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string default_model_path() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path p = exe.parent_path().parent_path() / "share" / "vkllm" / "stories260K.gguf";
    if (fs::exists(p, ec)) return p.string();
  }
  return VKLLM_SOURCE_MODEL;
}

uint64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "N kB"
  }
  return 0;
}

}  // namespace vkllm::app
