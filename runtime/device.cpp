#include "runtime/device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "runtime/error.h"

namespace vkllm::rt {

bool DeviceInfo::has_extension(const char* ext) const {
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

std::string DeviceInfo::type_name() const {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU";
    default:
      return "other";
  }
}

std::string DeviceInfo::api_version_string() const {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(api_version),
                     VK_API_VERSION_MINOR(api_version), VK_API_VERSION_PATCH(api_version));
}

std::string DeviceInfo::uuid_string() const {
  std::string s;
  for (uint8_t b : uuid) s += fmt::format("{:02x}", b);
  return s;
}

int device_type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 4;
    default:
      return 3;
  }
}

DeviceInfo query_device(VkPhysicalDevice dev, uint32_t index) {
  DeviceInfo info;
  info.index = index;

  uint32_t n_ext = 0;
  vk_check(vkEnumerateDeviceExtensionProperties(dev, nullptr, &n_ext, nullptr),
           "vkEnumerateDeviceExtensionProperties");
  std::vector<VkExtensionProperties> exts(n_ext);
  vk_check(vkEnumerateDeviceExtensionProperties(dev, nullptr, &n_ext, exts.data()),
           "vkEnumerateDeviceExtensionProperties");
  for (const auto& e : exts) info.extensions.emplace_back(e.extensionName);

  VkPhysicalDeviceProperties base{};
  vkGetPhysicalDeviceProperties(dev, &base);
  const bool v11 = base.apiVersion >= VK_API_VERSION_1_1;
  const bool v12 = base.apiVersion >= VK_API_VERSION_1_2;

  auto driver = vk_init<VkPhysicalDeviceDriverProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
  auto subgroup = vk_init<VkPhysicalDeviceSubgroupProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto maint3 = vk_init<VkPhysicalDeviceMaintenance3Properties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES);
  auto host_import = vk_init<VkPhysicalDeviceExternalMemoryHostPropertiesEXT>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT);
  auto props2 =
      vk_init<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  info.host_memory_import = v11 && info.has_extension(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  if (v11) {
    props2.pNext = &subgroup;
    subgroup.pNext = &maint3;
    void** tail = &maint3.pNext;
    if (v12 || info.has_extension(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME)) {
      *tail = &driver;
      tail = &driver.pNext;
    }
    if (info.host_memory_import) *tail = &host_import;
    vkGetPhysicalDeviceProperties2(dev, &props2);
  } else {
    props2.properties = base;
  }
  const VkPhysicalDeviceProperties& p = props2.properties;
  const VkPhysicalDeviceLimits& lim = p.limits;

  info.name = p.deviceName;
  info.type = p.deviceType;
  info.api_version = p.apiVersion;
  info.driver_version = p.driverVersion;
  info.vendor_id = p.vendorID;
  info.device_id = p.deviceID;
  std::memcpy(info.uuid.data(), p.pipelineCacheUUID, VK_UUID_SIZE);
  info.driver_name = driver.driverName[0] ? driver.driverName : "unknown";
  info.driver_info = driver.driverInfo;
  if (v11) {
    info.subgroup_size = subgroup.subgroupSize;
    const bool compute = subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT;
    info.subgroup_arithmetic =
        compute && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info.subgroup_shuffle =
        compute && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    info.max_allocation_size = maint3.maxMemoryAllocationSize;
  } else {
    info.max_allocation_size = 1ull << 30;
  }
  info.host_import_alignment = host_import.minImportedHostPointerAlignment;
  if (info.host_import_alignment == 0) info.host_memory_import = false;
  info.max_storage_buffer_range = lim.maxStorageBufferRange;
  info.min_storage_offset_alignment = lim.minStorageBufferOffsetAlignment;
  info.max_texel_buffer_elements = lim.maxTexelBufferElements;
  info.min_texel_offset_alignment = lim.minTexelBufferOffsetAlignment;
  info.texel_buffers = true;
  for (VkFormat f : {VK_FORMAT_R32G32B32A32_UINT, VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32_UINT,
                     VK_FORMAT_R32_SFLOAT}) {
    VkFormatProperties fp{};
    vkGetPhysicalDeviceFormatProperties(dev, f, &fp);
    if (!(fp.bufferFeatures & VK_FORMAT_FEATURE_STORAGE_TEXEL_BUFFER_BIT))
      info.texel_buffers = false;
  }
  info.max_shared_memory = lim.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = lim.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    info.max_workgroup_size[i] = lim.maxComputeWorkGroupSize[i];
    info.max_workgroup_count[i] = lim.maxComputeWorkGroupCount[i];
  }
  info.max_push_constants = lim.maxPushConstantsSize;
  info.max_bound_descriptor_sets = lim.maxBoundDescriptorSets;
  info.timestamp_period_ns = lim.timestampPeriod;

  // Features.
  auto f2 = vk_init<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  auto s16 = vk_init<VkPhysicalDevice16BitStorageFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES);
  auto s8 = vk_init<VkPhysicalDevice8BitStorageFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES);
  auto f16i8 = vk_init<VkPhysicalDeviceShaderFloat16Int8Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES);
  if (v11) {
    // Each struct the device knows joins the chain (a device with the float16/int8 extension but
    // not 8-bit storage still reports fp16 and int8).
    void** tail = &f2.pNext;
    auto link = [&tail](auto& s) {
      *tail = &s;
      tail = &s.pNext;
    };
    link(s16);
    if (v12 || info.has_extension(VK_KHR_8BIT_STORAGE_EXTENSION_NAME)) link(s8);
    if (v12 || info.has_extension(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)) link(f16i8);
    vkGetPhysicalDeviceFeatures2(dev, &f2);
  } else {
    vkGetPhysicalDeviceFeatures(dev, &f2.features);
  }
  info.storage16 = s16.storageBuffer16BitAccess;
  info.storage8 = s8.storageBuffer8BitAccess;
  info.fp16 = f16i8.shaderFloat16;
  info.int8 = f16i8.shaderInt8;
  info.int64 = f2.features.shaderInt64;

  // Queues: the first family with compute.
  uint32_t n_q = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(dev, &n_q, nullptr);
  std::vector<VkQueueFamilyProperties> qf(n_q);
  vkGetPhysicalDeviceQueueFamilyProperties(dev, &n_q, qf.data());
  for (uint32_t i = 0; i < n_q; ++i) {
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      info.compute_queue_family = i;
      info.timestamps = qf[i].timestampValidBits > 0 && lim.timestampPeriod > 0;
      break;
    }
  }

  VkPhysicalDeviceMemoryProperties mem{};
  vkGetPhysicalDeviceMemoryProperties(dev, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i) {
    info.heaps.push_back({mem.memoryHeaps[i].size,
                          (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});
  }
  return info;
}

uint32_t choose_device(const std::vector<DeviceInfo>& devices, int requested) {
  if (devices.empty()) throw DeviceError("no Vulkan device found (is a Vulkan driver installed?)");
  if (requested >= 0) {
    if (static_cast<size_t>(requested) >= devices.size()) {
      throw DeviceError(
          fmt::format("device {} requested, but only {} Vulkan device(s) exist (0..{})", requested,
                      devices.size(), devices.size() - 1));
    }
    if (devices[requested].compute_queue_family == UINT32_MAX) {
      throw DeviceError(
          fmt::format("device {} ({}) has no compute queue", requested, devices[requested].name));
    }
    return static_cast<uint32_t>(requested);
  }
  int best = -1;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i].compute_queue_family == UINT32_MAX) continue;
    if (devices[i].api_version < VK_API_VERSION_1_1) continue;
    if (best < 0 || device_type_rank(devices[i].type) < device_type_rank(devices[best].type)) {
      best = static_cast<int>(i);
    }
  }
  if (best < 0) throw DeviceError("no Vulkan 1.1 device with a compute queue found");
  return static_cast<uint32_t>(best);
}

}  // namespace vkllm::rt
