#include "runtime/context.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

#include "shaders/registry.h"

namespace vkllm::rt {

namespace {

// Invocations of the split meeting dispatch: each subgroup of its workgroup waits up to the
// driver's loop limit in turn (shaders/split_sync.comp).
constexpr uint32_t kSplitSyncInvocations = 256;

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0 && std::strcmp(v, "false") != 0;
}

VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT types,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data,
                                              void* user) {
  const bool counted = (types & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT)) &&
                       (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                    VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT));
  if (counted) {
    static_cast<std::atomic<uint64_t>*>(user)->fetch_add(1);
    std::fprintf(stderr, "vkllm: validation: %s\n", data->pMessage ? data->pMessage : "");
  }
  return VK_FALSE;
}

bool layer_available(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

std::vector<std::string> instance_extensions(const char* layer) {
  uint32_t n = 0;
  vkEnumerateInstanceExtensionProperties(layer, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateInstanceExtensionProperties(layer, &n, exts.data());
  std::vector<std::string> out;
  for (const auto& e : exts) out.emplace_back(e.extensionName);
  return out;
}

bool contains(const std::vector<std::string>& v, const char* s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

}  // namespace

std::string default_cache_dir() {
  if (const char* d = std::getenv("VKLLM_PIPELINE_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/vkllm";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/vkllm";
  return {};
}

bool validation_requested_by_env() {
  return env_flag("VKLLM_VALIDATION");
}

// ---------------------------------------------------------------------------------------------
// Instance

Instance::Instance(bool validation) : messages_(std::make_unique<std::atomic<uint64_t>>(0)) {
  auto app = vk_init<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "vkllm";
  app.pEngineName = "vkllm";
  uint32_t loader_version = VK_API_VERSION_1_0;
  vkEnumerateInstanceVersion(&loader_version);
  app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : loader_version;
  if (app.apiVersion < VK_API_VERSION_1_1)
    throw DeviceError("the Vulkan loader supports only Vulkan 1.0; vkllm needs 1.1");

  std::vector<const char*> layers;
  std::vector<const char*> exts;
  const auto available = instance_extensions(nullptr);
  if (contains(available, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
    exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    debug_utils_ = true;
  }
  auto ci = vk_init<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  if (contains(available, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    exts.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    ci.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }

  VkValidationFeatureEnableEXT enables[] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  auto features = vk_init<VkValidationFeaturesEXT>(VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT);
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;
  auto mci = vk_init<VkDebugUtilsMessengerCreateInfoEXT>(
      VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
  mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  mci.pfnUserCallback = debug_callback;
  mci.pUserData = messages_.get();

  if (validation) {
    if (!layer_available(kValidationLayer))
      throw DeviceError(
          "validation requested but VK_LAYER_KHRONOS_validation is not installed "
          "(apt-get install vulkan-validationlayers)");
    if (!debug_utils_) throw DeviceError("validation requested but VK_EXT_debug_utils is missing");
    layers.push_back(kValidationLayer);
    if (contains(instance_extensions(kValidationLayer),
                 VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
      exts.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
      features.pNext = &mci;
      ci.pNext = &features;
    } else {
      ci.pNext = &mci;
    }
  }
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  vk_check(vkCreateInstance(&ci, nullptr, &instance_), "vkCreateInstance");

  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create)
      vk_check(create(instance_, &mci, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
  }
}

Instance::~Instance() {
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::physical_devices() const {
  uint32_t n = 0;
  vk_check(vkEnumeratePhysicalDevices(instance_, &n, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devs(n);
  vk_check(vkEnumeratePhysicalDevices(instance_, &n, devs.data()), "vkEnumeratePhysicalDevices");
  return devs;
}

std::vector<DeviceInfo> Instance::devices() const {
  std::vector<DeviceInfo> out;
  auto devs = physical_devices();
  for (uint32_t i = 0; i < devs.size(); ++i) out.push_back(query_device(devs[i], i));
  return out;
}

std::vector<DeviceInfo> list_devices() {
  return Instance(false).devices();
}

// ---------------------------------------------------------------------------------------------
// Context

Context::Context(const ContextOptions& options) {
  // The destructor does not run for a constructor that throws: what was created so far (devices,
  // peers, pipelines) is released here, before the members' instances go.
  try {
    init(options);
  } catch (...) {
    release(false);
    throw;
  }
}

void Context::init(const ContextOptions& options) {
  validation_ = options.validation < 0 ? validation_requested_by_env() : options.validation != 0;
  notices_ = options.notices;
  instance_ = std::make_unique<Instance>(validation_);

  int requested = options.device;
  if (requested < 0) {
    if (const char* e = std::getenv("VKLLM_DEVICE"); e && *e) {
      char* end = nullptr;
      long v = std::strtol(e, &end, 10);
      if (*end != '\0' || v < 0)
        throw DeviceError(fmt::format("VKLLM_DEVICE='{}' is not a device index", e));
      requested = static_cast<int>(v);
    }
  }
  auto physical = instance_->physical_devices();
  std::vector<DeviceInfo> infos;
  for (uint32_t i = 0; i < physical.size(); ++i) infos.push_back(query_device(physical[i], i));
  const uint32_t chosen = choose_device(infos, requested);
  info_ = infos[chosen];
  physical_ = physical[chosen];
  if (info_.type == VK_PHYSICAL_DEVICE_TYPE_CPU && requested < 0 && notices_) {
    std::fprintf(stderr, "vkllm: no GPU found; using the CPU Vulkan device '%s' (slow)\n",
                 info_.name.c_str());
  }
  uint32_t split = std::max(options.split, 1u);
  split_dispatches_ = options.split_dispatches;
  if (options.before_device) {
    const DriverSetup setup = options.before_device(info_);
    driver_setting_ = setup.setting;
    if (setup.split) split = setup.split;
    if (setup.compile_only) split_dispatches_ = false;
  }
  if (!driver_setting_.empty()) {
    // A driver reads its environment when the instance enumerates it: enumerate again.
    const auto uuid = info_.uuid;
    instance_.reset();
    instance_ = std::make_unique<Instance>(validation_);
    physical = instance_->physical_devices();
    if (chosen >= physical.size() || query_device(physical[chosen], chosen).uuid != uuid)
      throw DeviceError(fmt::format("device {} changed while the instance was re-created for '{}'",
                                    chosen, driver_setting_));
    info_ = query_device(physical[chosen], chosen);
    physical_ = physical[chosen];
  }
  if (const char* t = std::getenv("VKLLM_GPU_TIMEOUT_S"); t && *t) {
    char* end = nullptr;
    const double sec = std::strtod(t, &end);
    if (*end != '\0' || !(sec > 0))
      throw DeviceError(fmt::format("VKLLM_GPU_TIMEOUT_S='{}' is not a positive number", t));
    gpu_timeout_ns_ = static_cast<uint64_t>(sec * 1e9);
  }
  if (split > 1 && !info_.host_memory_import)
    throw DeviceError(fmt::format(
        "{} across {} driver instances needs VK_EXT_external_memory_host, which {} does not have",
        split_dispatches_ ? "splitting dispatches" : "compiling", split, info_.name));
  create_device(physical_, split > 1, device_, queue_, command_pool_);
  auto fci = vk_init<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  vk_check(vkCreateFence(device_, &fci, nullptr, &fence_), "vkCreateFence");
  if (split > 1) open_peers(split, chosen);
  std::vector<VkDevice> devices{device_};
  for (const Peer& peer : peers_) devices.push_back(peer.device);
  allocator_ = std::make_unique<Allocator>(devices, physical_, info_.max_allocation_size,
                                           split > 1 ? info_.host_import_alignment : 0);
  const std::vector<char> cache_data = load_pipeline_cache(options);
  for (Peer& peer : peers_) {
    auto ci = vk_init<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
    ci.initialDataSize = cache_data.size();
    ci.pInitialData = cache_data.empty() ? nullptr : cache_data.data();
    vk_check(vkCreatePipelineCache(peer.device, &ci, nullptr, &peer.pipeline_cache),
             "vkCreatePipelineCache");
  }

  if (instance_->debug_utils()) {
    VkInstance inst = instance_->handle();
    set_object_name_ = reinterpret_cast<PFN_vkSetDebugUtilsObjectNameEXT>(
        vkGetInstanceProcAddr(inst, "vkSetDebugUtilsObjectNameEXT"));
    cmd_insert_label = reinterpret_cast<PFN_vkCmdInsertDebugUtilsLabelEXT>(
        vkGetInstanceProcAddr(inst, "vkCmdInsertDebugUtilsLabelEXT"));
    cmd_begin_label = reinterpret_cast<PFN_vkCmdBeginDebugUtilsLabelEXT>(
        vkGetInstanceProcAddr(inst, "vkCmdBeginDebugUtilsLabelEXT"));
    cmd_end_label = reinterpret_cast<PFN_vkCmdEndDebugUtilsLabelEXT>(
        vkGetInstanceProcAddr(inst, "vkCmdEndDebugUtilsLabelEXT"));
  }
  if (work_lanes() > 1) {
    // One 64-byte line per lane's arrival count, then the flag a meeting that waited too long
    // sets.
    split_counters_ = create_buffer(64 * (split + 1), "split counters");
    std::memset(split_counters_.mapped(), 0, split_counters_.size());
    split_sync_ =
        &pipeline({"split_sync",
                   1,
                   2 * sizeof(uint32_t),
                   {std::min(kSplitSyncInvocations, info_.max_workgroup_invocations), split}});
  }
}

void Context::open_peers(uint32_t lanes, uint32_t index) {
  for (uint32_t lane = 1; lane < lanes; ++lane) {
    Peer peer;
    peer.instance = std::make_unique<Instance>(validation_);
    const auto physical = peer.instance->physical_devices();
    if (index >= physical.size() || query_device(physical[index], index).uuid != info_.uuid)
      throw DeviceError(
          fmt::format("device {} is not the same in a second driver instance; "
                      "it cannot be opened through several driver instances here",
                      index));
    peer.physical = physical[index];
    // Listed before its device exists, so that release() finds what a failure leaves.
    Peer& p = peers_.emplace_back(std::move(peer));
    create_device(p.physical, true, p.device, p.queue, p.command_pool);
  }
}

bool Context::take_split_miss() {
  if (work_lanes() < 2) return false;
  uint32_t* flag = reinterpret_cast<uint32_t*>(split_counters_.mapped() + 64 * lanes());
  const bool missed = *flag != 0;
  *flag = 0;
  return missed;
}

void Context::claim_split_queues(const void* owner) {
  if (split_owner_ && split_owner_ != owner)
    throw DeviceError(
        "a split context runs one submission at a time: wait for the one in flight first");
  split_owner_ = owner;
}

void Context::release_split_queues(const void* owner) {
  if (split_owner_ == owner) split_owner_ = nullptr;
}

bool Context::first_use(const Pipeline& pipeline, uint32_t lane) {
  return used_.emplace(&pipeline, lane).second;
}

void Context::forget_use(const Pipeline& pipeline, uint32_t lane) {
  used_.erase({&pipeline, lane});
}

void Context::create_device(VkPhysicalDevice physical, bool host_import, VkDevice& device,
                            VkQueue& queue, VkCommandPool& pool) {
  float priority = 1.0f;
  auto qci = vk_init<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  qci.queueFamilyIndex = info_.compute_queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;

  // Enable the optional features the device has; kernels pick variants from DeviceInfo.
  std::vector<const char*> exts;
  const bool v12 = info_.api_version >= VK_API_VERSION_1_2;
  auto f2 = vk_init<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  auto s16 = vk_init<VkPhysicalDevice16BitStorageFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES);
  auto s8 = vk_init<VkPhysicalDevice8BitStorageFeatures>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES);
  auto f16i8 = vk_init<VkPhysicalDeviceShaderFloat16Int8Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES);
  f2.features.shaderInt64 = info_.int64;
  f2.pNext = &s16;
  s16.storageBuffer16BitAccess = info_.storage16;
  void** tail = &s16.pNext;
  if (info_.storage8) {
    if (!v12) exts.push_back(VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    s8.storageBuffer8BitAccess = VK_TRUE;
    *tail = &s8;
    tail = &s8.pNext;
  }
  if (info_.fp16 || info_.int8) {
    if (!v12) exts.push_back(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    f16i8.shaderFloat16 = info_.fp16;
    f16i8.shaderInt8 = info_.int8;
    *tail = &f16i8;
    tail = &f16i8.pNext;
  }

  if (host_import) exts.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);

  auto dci = vk_init<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  dci.pNext = &f2;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  dci.ppEnabledExtensionNames = exts.data();
  vk_check(vkCreateDevice(physical, &dci, nullptr, &device), "vkCreateDevice");
  vkGetDeviceQueue(device, info_.compute_queue_family, 0, &queue);

  auto pci = vk_init<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = info_.compute_queue_family;
  vk_check(vkCreateCommandPool(device, &pci, nullptr, &pool), "vkCreateCommandPool");
}

Context::~Context() {
  release(true);
}

void Context::release(bool save_cache) noexcept {
  if (device_) vkDeviceWaitIdle(device_);
  if (save_cache) {
    try {
      save_pipeline_cache();
    } catch (const std::exception& e) {
      if (notices_)
        std::fprintf(stderr, "vkllm: could not save the pipeline cache: %s\n", e.what());
    }
  }
  for (const Peer& peer : peers_)
    if (peer.device) vkDeviceWaitIdle(peer.device);
  for (auto& [key, p] : pipelines_) {
    destroy_pipeline(device_, *p);
    for (size_t i = 0; i < p->peers.size(); ++i) destroy_pipeline(peers_[i].device, p->peers[i]);
  }
  pipelines_.clear();
  if (pipeline_cache_) vkDestroyPipelineCache(device_, pipeline_cache_, nullptr);
  split_counters_ = Buffer();
  allocator_.reset();
  if (fence_) vkDestroyFence(device_, fence_, nullptr);
  if (command_pool_) vkDestroyCommandPool(device_, command_pool_, nullptr);
  if (device_) vkDestroyDevice(device_, nullptr);
  for (Peer& peer : peers_) {
    if (peer.pipeline_cache) vkDestroyPipelineCache(peer.device, peer.pipeline_cache, nullptr);
    if (peer.command_pool) vkDestroyCommandPool(peer.device, peer.command_pool, nullptr);
    if (peer.device) vkDestroyDevice(peer.device, nullptr);
  }
  peers_.clear();
}

void Context::wait_fence(VkFence fence, const char* what, uint32_t lane) const {
  const VkResult r = vkWaitForFences(device(lane), 1, &fence, VK_TRUE, gpu_timeout_ns_);
  if (r == VK_TIMEOUT)
    throw VulkanError(r, fmt::format("waiting for the GPU ({}) for {} s; the device looks hung "
                                     "(VKLLM_GPU_TIMEOUT_S raises the limit)",
                                     what, gpu_timeout_ns_ / 1000000000ull));
  vk_check(r, "vkWaitForFences");
}

void Context::set_name(VkObjectType type, uint64_t handle, const char* name) const {
  if (!set_object_name_ || !name) return;
  auto ni =
      vk_init<VkDebugUtilsObjectNameInfoEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT);
  ni.objectType = type;
  ni.objectHandle = handle;
  ni.pObjectName = name;
  set_object_name_(device_, &ni);
}

// --- memory ----------------------------------------------------------------------------------

Buffer Context::create_buffer(uint64_t size, const char* name) {
  if (size == 0) size = 4;
  if (size > info_.max_storage_buffer_range) {
    throw DeviceError(fmt::format(
        "buffer{}{} of {} bytes exceeds the device's maxStorageBufferRange ({} bytes); it must be "
        "split into ranges",
        name ? " " : "", name ? name : "", size, info_.max_storage_buffer_range));
  }
  const VkBufferUsageFlags usage =
      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT |
      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  return make_buffer(size, usage, Allocator::Kind::Device, name);
}

Buffer Context::create_staging_buffer(uint64_t size) {
  return make_buffer(size ? size : 4,
                     VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                     Allocator::Kind::Staging, nullptr);
}

Buffer Context::make_buffer(uint64_t size, VkBufferUsageFlags usage, Allocator::Kind kind,
                            const char* name) {
  auto external = vk_init<VkExternalMemoryBufferCreateInfo>(
      VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO);
  external.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  auto bci = vk_init<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bci.pNext = allocator_->imports() ? &external : nullptr;
  bci.size = size;
  bci.usage = usage;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  // One VkBuffer per lane over the same allocation; lane 0's allocates.
  std::vector<std::pair<VkDevice, VkBuffer>> bufs;
  Allocation a;
  auto destroy = [&] {
    for (auto& [dev, b] : bufs) vkDestroyBuffer(dev, b, nullptr);
    allocator_->free(a);
  };
  try {
    for (uint32_t lane = 0; lane < lanes(); ++lane) {
      VkBuffer buf = VK_NULL_HANDLE;
      vk_check(vkCreateBuffer(device(lane), &bci, nullptr, &buf), "vkCreateBuffer");
      bufs.emplace_back(device(lane), buf);
      if (lane == 0) {
        VkMemoryRequirements req{};
        vkGetBufferMemoryRequirements(device_, buf, &req);
        a = allocator_->allocate(req, kind);
      }
      vk_check(vkBindBufferMemory(device(lane), buf, allocator_->memory_on(a, lane), a.offset),
               "vkBindBufferMemory");
    }
  } catch (...) {
    destroy();
    throw;
  }
  const VkBuffer first = bufs[0].second;
  set_name(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<uint64_t>(first), name);
  bufs.erase(bufs.begin());
  return Buffer(device_, allocator_.get(), first, a, size, std::move(bufs));
}

void Context::upload(Buffer& dst, uint64_t offset, const void* src, uint64_t size) {
  if (offset + size > dst.size())
    throw DeviceError(fmt::format("upload of {} bytes at {} overruns a buffer of {} bytes", size,
                                  offset, dst.size()));
  if (size == 0) return;
  if (dst.mapped()) {
    std::memcpy(dst.mapped() + offset, src, size);
    return;
  }
  Buffer staging = create_staging_buffer(size);
  std::memcpy(staging.mapped(), src, size);
  run_once([&](VkCommandBuffer cb) {
    VkBufferCopy region{0, offset, size};
    vkCmdCopyBuffer(cb, staging.handle(), dst.handle(), 1, &region);
  });
}

void Context::download(const Buffer& src, uint64_t offset, void* dst, uint64_t size) {
  if (offset + size > src.size())
    throw DeviceError(fmt::format("download of {} bytes at {} overruns a buffer of {} bytes", size,
                                  offset, src.size()));
  if (size == 0) return;
  if (src.mapped()) {
    std::memcpy(dst, src.mapped() + offset, size);
    return;
  }
  Buffer staging = create_staging_buffer(size);
  run_once([&](VkCommandBuffer cb) {
    VkBufferCopy region{offset, 0, size};
    vkCmdCopyBuffer(cb, src.handle(), staging.handle(), 1, &region);
    auto mb = vk_init<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb,
                         0, nullptr, 0, nullptr);
  });
  std::memcpy(dst, staging.mapped(), size);
}

VkCommandBuffer Context::new_command_buffer(uint32_t lane) const {
  auto ai = vk_init<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = command_pool(lane);
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  vk_check(vkAllocateCommandBuffers(device(lane), &ai, &cb), "vkAllocateCommandBuffers");
  return cb;
}

VkCommandBuffer Context::begin_one_shot() {
  VkCommandBuffer cb = new_command_buffer();
  auto bi = vk_init<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vk_check(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer");
  // Make earlier work (host writes, prior submissions) visible to this batch.
  auto mb = vk_init<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  return cb;
}

void Context::end_one_shot(VkCommandBuffer cb) {
  vk_check(vkEndCommandBuffer(cb), "vkEndCommandBuffer");
  auto si = vk_init<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  VkResult r = vkQueueSubmit(queue_, 1, &si, fence_);
  if (r != VK_SUCCESS) {
    vkFreeCommandBuffers(device_, command_pool_, 1, &cb);
    throw VulkanError(r, "vkQueueSubmit (one-shot transfer)");
  }
  wait_fence(fence_, "one-shot transfer");
  vkResetFences(device_, 1, &fence_);
  vkFreeCommandBuffers(device_, command_pool_, 1, &cb);
}

// --- pipelines -------------------------------------------------------------------------------

std::string PipelineDesc::key() const {
  std::string k = shader;
  for (uint32_t s : spec) k += fmt::format(":{}", s);
  for (uint32_t b = 0; b < bindings; ++b)
    if (is_texel(b)) k += fmt::format(":t{}={}", b, static_cast<int>(texel[b]));
  return k;
}

const Pipeline& Context::pipeline(const PipelineDesc& desc) {
  const std::string key = desc.key();
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;
  if (desc.push_size > info_.max_push_constants)
    throw DeviceError(fmt::format("shader '{}' needs {} bytes of push constants; device allows {}",
                                  desc.shader, desc.push_size, info_.max_push_constants));
  auto p = std::make_unique<Pipeline>();
  p->desc = desc;
  p->label = key;
  // A split context's lanes compile in parallel (each driver instance compiles its own).
  std::vector<std::future<PipelineObjects>> peers;
  for (const Peer& peer : peers_)
    peers.push_back(std::async(std::launch::async, [this, &peer, &desc, &key] {
      return build_pipeline(peer.device, peer.pipeline_cache, desc, key);
    }));
  std::exception_ptr failure;
  try {
    static_cast<PipelineObjects&>(*p) = build_pipeline(device_, pipeline_cache_, desc, key);
  } catch (...) {
    failure = std::current_exception();
  }
  p->peers.resize(peers_.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    try {
      p->peers[i] = peers[i].get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) {
    destroy_pipeline(device_, *p);
    for (size_t i = 0; i < p->peers.size(); ++i) destroy_pipeline(peers_[i].device, p->peers[i]);
    std::rethrow_exception(failure);
  }
  set_name(VK_OBJECT_TYPE_PIPELINE, reinterpret_cast<uint64_t>(p->pipeline), p->label.c_str());
  return *pipelines_.emplace(key, std::move(p)).first->second;
}

PipelineObjects Context::build_pipeline(VkDevice device, VkPipelineCache cache,
                                        const PipelineDesc& desc, const std::string& key) const {
  std::span<const uint32_t> code = shaders::find(desc.shader);
  if (code.empty()) throw DeviceError(fmt::format("no embedded shader named '{}'", desc.shader));
  PipelineObjects p;
  std::vector<VkDescriptorSetLayoutBinding> binds(desc.bindings);
  for (uint32_t i = 0; i < desc.bindings; ++i) {
    binds[i].binding = i;
    binds[i].descriptorType = desc.is_texel(i) ? VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER
                                               : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    binds[i].descriptorCount = 1;
    binds[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  auto dl =
      vk_init<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  dl.bindingCount = desc.bindings;
  dl.pBindings = binds.data();
  vk_check(vkCreateDescriptorSetLayout(device, &dl, nullptr, &p.set_layout),
           "vkCreateDescriptorSetLayout");
  VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc.push_size};
  auto pl = vk_init<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &p.set_layout;
  pl.pushConstantRangeCount = desc.push_size ? 1 : 0;
  pl.pPushConstantRanges = &pcr;
  VkResult r = vkCreatePipelineLayout(device, &pl, nullptr, &p.layout);
  if (r != VK_SUCCESS) {
    destroy_pipeline(device, p);
    throw VulkanError(r, "vkCreatePipelineLayout");
  }

  auto sm = vk_init<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  sm.codeSize = code.size() * 4;
  sm.pCode = code.data();
  VkShaderModule module = VK_NULL_HANDLE;
  r = vkCreateShaderModule(device, &sm, nullptr, &module);
  if (r != VK_SUCCESS) {
    destroy_pipeline(device, p);
    throw VulkanError(r, "vkCreateShaderModule");
  }

  std::vector<VkSpecializationMapEntry> entries(desc.spec.size());
  for (uint32_t i = 0; i < desc.spec.size(); ++i) entries[i] = {i, i * 4, 4};
  VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(),
                          desc.spec.size() * 4, desc.spec.data()};
  auto cpi = vk_init<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  // A split context's lanes each run a range of the workgroups (vkCmdDispatchBase).
  if (work_lanes() > 1) cpi.flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT;
  cpi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpi.stage.module = module;
  cpi.stage.pName = "main";
  cpi.stage.pSpecializationInfo = desc.spec.empty() ? nullptr : &si;
  cpi.layout = p.layout;
  r = vkCreateComputePipelines(device, cache, 1, &cpi, nullptr, &p.pipeline);
  vkDestroyShaderModule(device, module, nullptr);
  if (r != VK_SUCCESS) {
    destroy_pipeline(device, p);
    throw VulkanError(r, fmt::format("vkCreateComputePipelines({})", key));
  }
  return p;
}

void Context::destroy_pipeline(VkDevice device, const PipelineObjects& p) const {
  if (p.pipeline) vkDestroyPipeline(device, p.pipeline, nullptr);
  if (p.layout) vkDestroyPipelineLayout(device, p.layout, nullptr);
  if (p.set_layout) vkDestroyDescriptorSetLayout(device, p.set_layout, nullptr);
}

std::vector<char> Context::load_pipeline_cache(const ContextOptions& options) {
  std::vector<char> data;
  if (options.pipeline_cache && !env_flag("VKLLM_NO_PIPELINE_CACHE")) {
    std::string dir =
        options.pipeline_cache_dir.empty() ? default_cache_dir() : options.pipeline_cache_dir;
    if (!dir.empty()) {
      pipeline_cache_path_ =
          fmt::format("{}/pipelines-{}-{:08x}.bin", dir, info_.uuid_string(), info_.driver_version);
      std::ifstream in(pipeline_cache_path_, std::ios::binary);
      if (in) data.assign(std::istreambuf_iterator<char>(in), {});
    }
  }
  // Accept the file only if its header names this device and driver; drivers are not required
  // to reject foreign data safely.
  if (!data.empty()) {
    VkPipelineCacheHeaderVersionOne h{};
    bool ok = data.size() >= sizeof(h);
    if (ok) {
      std::memcpy(&h, data.data(), sizeof(h));
      ok = h.headerSize >= sizeof(h) && h.headerVersion == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           h.vendorID == info_.vendor_id && h.deviceID == info_.device_id &&
           std::memcmp(h.pipelineCacheUUID, info_.uuid.data(), VK_UUID_SIZE) == 0;
    }
    if (!ok) {
      if (notices_)
        std::fprintf(stderr, "vkllm: ignoring pipeline cache %s (not made by this device/driver)\n",
                     pipeline_cache_path_.c_str());
      data.clear();
    }
  }
  auto ci = vk_init<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  ci.initialDataSize = data.size();
  ci.pInitialData = data.empty() ? nullptr : data.data();
  VkResult r = vkCreatePipelineCache(device_, &ci, nullptr, &pipeline_cache_);
  if (r != VK_SUCCESS && !data.empty()) {
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    data.clear();
    r = vkCreatePipelineCache(device_, &ci, nullptr, &pipeline_cache_);
  }
  vk_check(r, "vkCreatePipelineCache");
  pipeline_cache_loaded_ = data.size();
  return data;
}

void Context::save_pipeline_cache() {
  if (pipeline_cache_path_.empty() || !pipeline_cache_) return;
  size_t size = 0;
  vk_check(vkGetPipelineCacheData(device_, pipeline_cache_, &size, nullptr),
           "vkGetPipelineCacheData");
  std::vector<char> data(size);
  vk_check(vkGetPipelineCacheData(device_, pipeline_cache_, &size, data.data()),
           "vkGetPipelineCacheData");
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(pipeline_cache_path_).parent_path(), ec);
  const std::string tmp = pipeline_cache_path_ + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw DeviceError(fmt::format("cannot write {}", tmp));
    out.write(data.data(), static_cast<std::streamsize>(size));
    if (!out) throw DeviceError(fmt::format("cannot write {}", tmp));
  }
  fs::rename(tmp, pipeline_cache_path_, ec);
  if (ec) throw DeviceError(fmt::format("cannot rename {}: {}", tmp, ec.message()));
}

}  // namespace vkllm::rt
