// vkllm devices: what each Vulkan device offers and which one vkllm would pick.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "apps/common.h"
#include "graph/tuning.h"
#include "runtime/context.h"

namespace vkllm::app {

namespace {

std::string bytes_str(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.1f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.0f} MiB", b / double(1ull << 20));
  return fmt::format("{} KiB", b >> 10);
}

const char* yn(bool b) {
  return b ? "yes" : "no";
}

void print_devices() {
  auto devices = rt::list_devices();
  if (devices.empty())
    throw rt::DeviceError("no Vulkan device found (is a Vulkan driver installed?)");
  const uint32_t chosen = rt::choose_device(devices, -1);
  // The kernel settings first: a bad device profile is an error before anything is printed.
  std::vector<KernelTuning> tunings;
  for (const auto& d : devices) tunings.push_back(kernel_tuning(d));
  fmt::print("Vulkan devices ({} found; * = chosen when no --device or VKLLM_DEVICE is given):\n",
             devices.size());
  for (const auto& d : devices) {
    fmt::print("{} {}: {}\n", d.index == chosen ? "*" : " ", d.index, d.name);
    fmt::print("     type {}, driver {} ({}), Vulkan {}\n", d.type_name(), d.driver_name,
               d.driver_info, d.api_version_string());
    fmt::print("     subgroup size {} (arithmetic {}, shuffle {})\n", d.subgroup_size,
               yn(d.subgroup_arithmetic), yn(d.subgroup_shuffle));
    fmt::print("     fp16 {}, int8 {}, 16-bit storage {}, 8-bit storage {}, int64 {}\n", yn(d.fp16),
               yn(d.int8), yn(d.storage16), yn(d.storage8), yn(d.int64));
    fmt::print("     maxStorageBufferRange {} ({}), shared memory {} ({}), max allocation {}\n",
               d.max_storage_buffer_range, bytes_str(d.max_storage_buffer_range),
               d.max_shared_memory, bytes_str(d.max_shared_memory),
               bytes_str(d.max_allocation_size));
    fmt::print("     storage texel buffers {} (max {} elements, offset alignment {})\n",
               yn(d.texel_buffers), d.max_texel_buffer_elements, d.min_texel_offset_alignment);
    if (d.host_memory_import)
      fmt::print(
          "     host memory import yes (alignment {}): dispatches can be split across "
          "driver instances\n",
          d.host_import_alignment);
    else
      fmt::print("     host memory import no\n");
    fmt::print(
        "     workgroup max {} invocations ({}x{}x{}), push constants {} bytes, timestamps {}\n",
        d.max_workgroup_invocations, d.max_workgroup_size[0], d.max_workgroup_size[1],
        d.max_workgroup_size[2], d.max_push_constants, yn(d.timestamps));
    std::string heaps;
    for (size_t i = 0; i < d.heaps.size(); ++i)
      heaps += fmt::format("{}{}: {}{}", i ? ", " : "", i, bytes_str(d.heaps[i].size),
                           d.heaps[i].device_local ? " device-local" : "");
    fmt::print("     memory heaps: {}\n", heaps);
    // The kernel settings vkllm would use here, and which of them a profile or variable set.
    const KernelTuning& t = tunings[&d - devices.data()];
    fmt::print("     kernels: {}\n     set by: {}\n", tuning_summary(t), tuning_origins(t));
  }
}

}  // namespace

void register_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "devices",
      "list Vulkan devices with their features and limits, and the kernel settings vkllm uses on "
      "each (from its features and the device profiles; VKLLM_DEVICE_PROFILE=FILE adds one)");
  cmd->callback([] { print_devices(); });
}

}  // namespace vkllm::app
