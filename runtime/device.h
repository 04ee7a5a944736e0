// Physical-device discovery: what each Vulkan device offers, and which one vkllm picks.
#pragma once
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vkllm::rt {

struct MemoryHeap {
  uint64_t size = 0;
  bool device_local = false;
};

// Everything vkllm needs to know about a physical device, read once at start-up. Kernel variants
// and tuning choices are derived from these fields, never from the vendor name.
struct DeviceInfo {
  uint32_t index = 0;
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  std::string driver_name;
  std::string driver_info;
  uint32_t api_version = 0;
  uint32_t driver_version = 0;
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  std::array<uint8_t, VK_UUID_SIZE> uuid{};

  uint32_t subgroup_size = 1;
  bool subgroup_arithmetic = false;  // subgroupAdd etc. in compute shaders
  bool subgroup_shuffle = false;
  bool fp16 = false;       // shaderFloat16
  bool int8 = false;       // shaderInt8
  bool storage16 = false;  // storageBuffer16BitAccess
  bool storage8 = false;   // storageBuffer8BitAccess
  bool int64 = false;      // shaderInt64

  // VK_EXT_external_memory_host: host allocations imported as device memory (what a split
  // context shares between its driver instances), aligned to host_import_alignment bytes.
  bool host_memory_import = false;
  uint64_t host_import_alignment = 0;

  uint64_t max_storage_buffer_range = 0;
  uint64_t max_allocation_size = 0;
  uint64_t min_storage_offset_alignment = 1;
  // Texel buffers: limits, and whether the formats the kernels read (R32G32B32A32_UINT/SFLOAT,
  // R32_UINT/SFLOAT) support VK_FORMAT_FEATURE_STORAGE_TEXEL_BUFFER_BIT.
  uint64_t max_texel_buffer_elements = 0;
  uint64_t min_texel_offset_alignment = 1;
  bool texel_buffers = false;
  uint32_t max_shared_memory = 0;
  uint32_t max_workgroup_invocations = 0;
  std::array<uint32_t, 3> max_workgroup_size{};
  std::array<uint32_t, 3> max_workgroup_count{};
  uint32_t max_push_constants = 0;
  uint32_t max_bound_descriptor_sets = 0;
  float timestamp_period_ns = 0.0f;
  bool timestamps = false;  // compute queue supports timestamp queries
  uint32_t compute_queue_family = UINT32_MAX;
  std::vector<MemoryHeap> heaps;
  std::vector<std::string> extensions;

  bool has_extension(const char* name) const;
  std::string type_name() const;  // "discrete GPU", "integrated GPU", "CPU", ...
  std::string api_version_string() const;
  std::string uuid_string() const;
};

// Reads the device's properties and features.
DeviceInfo query_device(VkPhysicalDevice dev, uint32_t index);

// Preference order for automatic choice: discrete > integrated > virtual > other > CPU.
int device_type_rank(VkPhysicalDeviceType type);

// Index of the device to use among `devices`: `requested` (>= 0) if valid, else the best-ranked one
// that has a compute queue. Throws DeviceError if none is usable or `requested` is out of range.
uint32_t choose_device(const std::vector<DeviceInfo>& devices, int requested);

}  // namespace vkllm::rt
