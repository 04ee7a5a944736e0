// vkllm: LLM inference on any GPU through Vulkan compute.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "apps/common.h"

int main(int argc, char** argv) {
  CLI::App app{
      "vkllm " VKLLM_VERSION
      ": LLM inference on any GPU through Vulkan compute.\n"
      "Runs GGUF llama-family models (F32/F16/BF16 and quantized weights) on the best Vulkan "
      "device present."};
  app.set_version_flag("--version", "vkllm " VKLLM_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Environment: VKLLM_DEVICE=N picks a device; VKLLM_VALIDATION=1 enables the Khronos "
      "validation layer;\nVKLLM_NO_PIPELINE_CACHE=1 disables the pipeline cache "
      "(~/.cache/vkllm, or VKLLM_PIPELINE_CACHE_DIR);\nVKLLM_GPU_TIMEOUT_S=N reports a GPU wait "
      "longer than N seconds (default 300) as a hang;\nVKLLM_TEXEL_KERNELS=0|1 turns the "
      "texel-buffer matrix and attention kernels off/on (default: on for CPU Vulkan devices);\n"
      "VKLLM_PLANAR_LARGER=0 keeps the formats whose fast layout for those kernels takes more\n"
      "memory than the file (K-quants, 5-bit, Q4_1, IQ4_NL, IQ4_XS) as stored: smaller, slower;\n"
      "VKLLM_SPLIT=N splits each dispatch of a model over 4 MiB across N driver instances of a "
      "CPU\n"
      "device that can share memory (lavapipe: default 2 up to 128 MiB of weights, above that a\n"
      "second instance that only compiles; 1 = never, and no compiling instance; 0 = one per "
      "core);\n"
      "VKLLM_DEVICE_PROFILE=FILE adds a device profile of kernel settings (see 'vkllm devices').\n"
      "Run 'vkllm <command> --help' for a command's options.");
  vkllm::app::register_devices(app);
  vkllm::app::register_run(app);
  vkllm::app::register_bench(app);
  vkllm::app::register_profile(app);
  vkllm::app::register_quantize(app);
  vkllm::app::register_make_model(app);
  vkllm::app::register_tokenize(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "error: %s (see 'vkllm --help')\n",
                 vkllm::app::one_line(e.what()).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", vkllm::app::one_line(e.what()).c_str());
    return 1;
  }
  return 0;
}
