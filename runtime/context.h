// The Vulkan context: instance, chosen device, queue, memory, pipelines and the persistent
// pipeline cache. Knows nothing about transformers.
#pragma once
#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/pipeline.h"

namespace vkllm::rt {

// What ContextOptions::before_device did for the chosen device.
struct DriverSetup {
  // The driver setting it put in the environment, e.g. "LP_NUM_THREADS=0" ("": none). The
  // instance is then created again, so that the driver reads it.
  std::string setting;
  // Lanes to split every dispatch across (0: ContextOptions::split decides).
  uint32_t split = 0;
  // The lanes after the first only compile (ContextOptions::split_dispatches = false).
  bool compile_only = false;
};

struct ContextOptions {
  // Device index as listed by `vkllm devices`; -1 picks automatically (VKLLM_DEVICE overrides -1).
  int device = -1;
  // Enable VK_LAYER_KHRONOS_validation with synchronization validation. -1: from VKLLM_VALIDATION.
  int validation = -1;
  // Persistent pipeline cache. Disabled by VKLLM_NO_PIPELINE_CACHE=1 as well.
  bool pipeline_cache = true;
  // Directory of the pipeline cache file; empty: VKLLM_PIPELINE_CACHE_DIR, else
  // $XDG_CACHE_HOME/vkllm, else ~/.cache/vkllm.
  std::string pipeline_cache_dir;
  // Print one-line notices (CPU device chosen, cache ignored) to stderr.
  bool notices = true;
  // Lanes: with n > 1 the context opens the chosen device through n driver instances (one
  // VkInstance and VkDevice each) that share all memory (imported host memory,
  // VK_EXT_external_memory_host), and every Sequence runs each dispatch's workgroups split
  // between them, the lanes meeting at each barrier. For a CPU device whose instances each run
  // dispatches on their own thread (lavapipe with LP_NUM_THREADS=0): its cores then work on every
  // dispatch without the driver's thread pool. Needs VK_EXT_external_memory_host.
  uint32_t split = 1;
  // false: the lanes after the first only compile. Every dispatch runs whole on lane 0 (with its
  // driver's own threads); a pipeline new to the context is compiled first on one lane (the
  // least loaded), and on the others from the driver's shader cache (Sequence), so that a
  // driver that compiles at a pipeline's first dispatch (lavapipe) compiles on several cores.
  bool split_dispatches = true;
  // Called with the chosen device before the logical device is created. It may set driver
  // settings in the environment (a CPU driver's worker threads) and say what it set, and choose
  // the lanes; Context::driver_setting() returns the setting's text.
  std::function<DriverSetup(const DeviceInfo&)> before_device;
};

// Where vkllm keeps its caches (pipelines, measured ceilings): VKLLM_PIPELINE_CACHE_DIR, else
// $XDG_CACHE_HOME/vkllm, else ~/.cache/vkllm; "" where none of them is set.
std::string default_cache_dir();

// A Vulkan instance, optionally with validation. Used by Context and by device listing.
class Instance {
 public:
  explicit Instance(bool validation);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  bool debug_utils() const { return debug_utils_; }
  std::vector<VkPhysicalDevice> physical_devices() const;
  std::vector<DeviceInfo> devices() const;
  // Number of validation warnings and errors reported so far.
  uint64_t validation_messages() const { return messages_->load(); }

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  bool debug_utils_ = false;
  std::unique_ptr<std::atomic<uint64_t>> messages_;
};

// Lists every Vulkan device without creating a logical device.
std::vector<DeviceInfo> list_devices();

// Whether validation was requested through VKLLM_VALIDATION.
bool validation_requested_by_env();

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const { return info_; }
  VkDevice device() const { return device_; }
  VkPhysicalDevice physical_device() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return info_.compute_queue_family; }
  VkCommandPool command_pool() const { return command_pool_; }
  // Lanes (ContextOptions::split): 1, or the driver instances each dispatch is split across.
  // Lane 0 is device(), queue() and command_pool(); the others are the peers'.
  uint32_t lanes() const { return 1 + static_cast<uint32_t>(peers_.size()); }
  // The lanes that run dispatches: lanes(), or 1 where the others only compile.
  uint32_t work_lanes() const { return split_dispatches_ ? lanes() : 1; }
  VkDevice device(uint32_t lane) const { return lane ? peers_[lane - 1].device : device_; }
  VkQueue queue(uint32_t lane) const { return lane ? peers_[lane - 1].queue : queue_; }
  VkCommandPool command_pool(uint32_t lane) const {
    return lane ? peers_[lane - 1].command_pool : command_pool_;
  }
  // A primary command buffer from lane `lane`'s pool (freed by its owner, or with the pool).
  VkCommandBuffer new_command_buffer(uint32_t lane = 0) const;
  // Split contexts: the lanes' meeting point, a dispatch each lane records at every barrier
  // (shaders/split_sync.comp), and the counters it reads and writes, with the flag a meeting
  // that waited too long sets.
  const Pipeline& split_sync_pipeline() const { return *split_sync_; }
  const Buffer& split_counters() const { return split_counters_; }
  // Whether a lane gave up waiting at a meeting since the last call (the results of the
  // submission then running are invalid); clears the flag. False for one lane.
  bool take_split_miss();
  // A split context runs one submission at a time: `owner` claims the lanes' queues until it
  // releases them; a claim while another owner holds them is a DeviceError.
  void claim_split_queues(const void* owner);
  void release_split_queues(const void* owner);
  // Split contexts: true the first time `pipeline` is named for `lane` (its driver compiles it
  // at its first dispatch; a Sequence makes that dispatch an empty one before the lanes meet);
  // forget_use makes the next call true again.
  bool first_use(const Pipeline& pipeline, uint32_t lane);
  void forget_use(const Pipeline& pipeline, uint32_t lane);
  // Whether `pipeline` has been named for `lane` (first_use without marking it).
  bool used(const Pipeline& pipeline, uint32_t lane) const {
    return used_.count({&pipeline, lane}) != 0;
  }
  Instance& instance() { return *instance_; }
  bool validation() const { return validation_; }
  // What ContextOptions::before_device set for this device ("" if nothing).
  const std::string& driver_setting() const { return driver_setting_; }
  // Whether one-line notices go to stderr (ContextOptions::notices).
  bool notices() const { return notices_; }
  uint64_t validation_messages() const { return instance_->validation_messages(); }

  // --- memory ---
  // A storage buffer of `size` bytes in device memory (host-visible where the device allows it).
  // Refuses sizes over maxStorageBufferRange with a DeviceError: larger tensors must be split.
  Buffer create_buffer(uint64_t size, const char* name = nullptr);
  // Host-visible staging buffer for transfers.
  Buffer create_staging_buffer(uint64_t size);
  void upload(Buffer& dst, uint64_t offset, const void* src, uint64_t size);
  void download(const Buffer& src, uint64_t offset, void* dst, uint64_t size);
  Allocator& allocator() { return *allocator_; }

  // --- pipelines ---
  // The pipeline for `desc`, created on first use and cached for the context's lifetime.
  const Pipeline& pipeline(const PipelineDesc& desc);
  size_t pipelines_created() const { return pipelines_.size(); }
  VkPipelineCache pipeline_cache() const { return pipeline_cache_; }
  // Path of the persistent cache file, empty when disabled.
  const std::string& pipeline_cache_path() const { return pipeline_cache_path_; }
  // Bytes of cache data that were loaded from disk at start-up (0 if none or rejected).
  uint64_t pipeline_cache_loaded_bytes() const { return pipeline_cache_loaded_; }
  // Writes the pipeline cache file now (also done by the destructor).
  void save_pipeline_cache();

  // --- one-shot commands ---
  // Records commands with `record`, submits them and waits.
  template <class F>
  void run_once(F&& record) {
    VkCommandBuffer cb = begin_one_shot();
    record(cb);
    end_one_shot(cb);
  }

  // How long a wait for the GPU may take before it is reported as a hang (VKLLM_GPU_TIMEOUT_S,
  // default 300 s).
  uint64_t gpu_timeout_ns() const { return gpu_timeout_ns_; }
  // Waits for `fence` (of lane `lane`'s device); VK_TIMEOUT past gpu_timeout_ns() becomes a
  // VulkanError naming the wait.
  void wait_fence(VkFence fence, const char* what, uint32_t lane = 0) const;

  // Debug-utils object naming (no-op without VK_EXT_debug_utils).
  void set_name(VkObjectType type, uint64_t handle, const char* name) const;
  PFN_vkCmdInsertDebugUtilsLabelEXT cmd_insert_label = nullptr;
  PFN_vkCmdBeginDebugUtilsLabelEXT cmd_begin_label = nullptr;
  PFN_vkCmdEndDebugUtilsLabelEXT cmd_end_label = nullptr;

 private:
  // A lane's driver instance of the chosen device: lanes 1.. of a split context.
  struct Peer {
    std::unique_ptr<Instance> instance;
    VkPhysicalDevice physical = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    VkCommandPool command_pool = VK_NULL_HANDLE;
    VkPipelineCache pipeline_cache = VK_NULL_HANDLE;
  };

  void init(const ContextOptions& options);  // the constructor's work
  // Destroys what exists (also after a constructor that threw midway); saves the pipeline cache
  // first where `save_cache`.
  void release(bool save_cache) noexcept;
  VkCommandBuffer begin_one_shot();
  void end_one_shot(VkCommandBuffer cb);
  // A logical device on `physical` with its queue and command pool; `host_import` enables
  // VK_EXT_external_memory_host (the lanes of a split context share memory through it).
  void create_device(VkPhysicalDevice physical, bool host_import, VkDevice& device, VkQueue& queue,
                     VkCommandPool& pool);
  void open_peers(uint32_t lanes, uint32_t index);
  // Loads the persistent cache and returns the data it accepted (the peers start from it too).
  std::vector<char> load_pipeline_cache(const ContextOptions& options);
  PipelineObjects build_pipeline(VkDevice device, VkPipelineCache cache, const PipelineDesc& desc,
                                 const std::string& key) const;
  void destroy_pipeline(VkDevice device, const PipelineObjects& p) const;
  Buffer make_buffer(uint64_t size, VkBufferUsageFlags usage, Allocator::Kind kind,
                     const char* name);

  std::unique_ptr<Instance> instance_;
  bool validation_ = false;
  bool notices_ = true;
  bool split_dispatches_ = true;
  std::string driver_setting_;
  DeviceInfo info_;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::unique_ptr<Allocator> allocator_;
  VkPipelineCache pipeline_cache_ = VK_NULL_HANDLE;
  std::string pipeline_cache_path_;
  uint64_t pipeline_cache_loaded_ = 0;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
  std::vector<Peer> peers_;
  Buffer split_counters_;
  const Pipeline* split_sync_ = nullptr;
  const void* split_owner_ = nullptr;
  std::set<std::pair<const Pipeline*, uint32_t>> used_;
  PFN_vkSetDebugUtilsObjectNameEXT set_object_name_ = nullptr;
  uint64_t gpu_timeout_ns_ = 300ull * 1000000000ull;
};

}  // namespace vkllm::rt
