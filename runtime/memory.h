// Device memory: a sub-allocator over few large VkDeviceMemory blocks, and RAII buffers bound to
// it.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace vkllm::rt {

class Allocator;

struct Allocation {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint8_t* mapped = nullptr;  // host pointer to `offset`, null if not host-visible
  int block = -1;             // index into the allocator's blocks; -1 = none
};

// First-fit sub-allocation inside blocks of `block_size` bytes; requests larger than a block get a
// dedicated allocation. All memory of one kind comes from one memory type.
//
// With several devices (the lanes of a split context, all instances of one driver's device),
// every block is host memory imported into each of them (VK_EXT_external_memory_host): the same
// bytes, one VkDeviceMemory per device, memory_on() gives a lane's.
class Allocator {
 public:
  enum class Kind { Device, Staging };

  // `devices[0]` allocates; with more than one, blocks are imported host memory aligned to
  // `import_alignment` bytes (DeviceInfo::host_import_alignment).
  Allocator(std::vector<VkDevice> devices, VkPhysicalDevice physical, uint64_t max_allocation_size,
            uint64_t import_alignment = 0);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  Allocation allocate(const VkMemoryRequirements& req, Kind kind);
  void free(const Allocation& a);
  // The memory of `a`'s block on device `lane` (a.memory for lane 0).
  VkDeviceMemory memory_on(const Allocation& a, uint32_t lane) const;
  // Whether blocks are host memory imported into every device.
  bool imports() const { return devices_.size() > 1; }

  // Whether device buffers are directly host-visible (no staging copies needed).
  bool device_host_visible() const { return device_host_visible_; }
  uint64_t block_count() const;
  uint64_t bytes_reserved() const;  // sum of VkDeviceMemory sizes
  uint64_t bytes_in_use() const;    // sum of live sub-allocations

 private:
  struct Range {
    uint64_t offset, size;
  };
  struct Block {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint64_t size = 0;
    uint8_t* mapped = nullptr;
    uint32_t type = 0;
    bool dedicated = false;
    std::vector<Range> free;  // sorted by offset, coalesced
    uint64_t used = 0;
    std::vector<VkDeviceMemory> peers;  // devices_[1..]'s imports of the same host memory
  };
  int new_block(uint64_t size, uint32_t type, bool dedicated);
  void release(Block& b);

  std::vector<VkDevice> devices_;
  VkDevice device_;
  uint64_t import_alignment_ = 0;
  PFN_vkGetMemoryHostPointerPropertiesEXT host_pointer_properties_ = nullptr;
  uint64_t block_size_;
  uint32_t device_type_ = 0;
  uint32_t staging_type_ = 0;
  bool device_host_visible_ = false;
  std::vector<Block> blocks_;
  mutable std::mutex mutex_;
};

// A VkBuffer bound to a sub-allocation (in a split context, one per lane over the same memory).
// Move-only; released on destruction.
class Buffer {
 public:
  Buffer() = default;
  Buffer(VkDevice device, Allocator* allocator, VkBuffer buffer, Allocation a, uint64_t size,
         std::vector<std::pair<VkDevice, VkBuffer>> peers = {});
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  // The buffer on lane `lane` of a split context (handle() for lane 0).
  VkBuffer handle(uint32_t lane) const { return lane == 0 ? buffer_ : peers_[lane - 1].second; }
  uint64_t size() const { return size_; }
  // Host pointer to the buffer's first byte when host-visible, else null.
  uint8_t* mapped() const { return alloc_.mapped; }
  explicit operator bool() const { return buffer_ != VK_NULL_HANDLE; }

 private:
  void release();
  VkDevice device_ = VK_NULL_HANDLE;
  Allocator* allocator_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  Allocation alloc_;
  uint64_t size_ = 0;
  std::vector<std::pair<VkDevice, VkBuffer>> peers_;
};

// A range of a buffer as bound to a shader or named in a barrier.
struct BufferRange {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t size = VK_WHOLE_SIZE;

  BufferRange() = default;
  BufferRange(const Buffer& b) : buffer(&b), size(b.size()) {}  // NOLINT: implicit by design
  BufferRange(const Buffer& b, uint64_t off, uint64_t sz) : buffer(&b), offset(off), size(sz) {}
};

}  // namespace vkllm::rt
