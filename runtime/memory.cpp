#include "runtime/memory.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <optional>

#include "runtime/error.h"

namespace vkllm::rt {

namespace {

constexpr uint64_t kDefaultBlockSize = 256ull << 20;

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

Allocator::Allocator(std::vector<VkDevice> devices, VkPhysicalDevice physical,
                     uint64_t max_allocation_size, uint64_t import_alignment)
    : devices_(std::move(devices)),
      device_(devices_.at(0)),
      block_size_(std::min(kDefaultBlockSize, max_allocation_size)) {
  if (imports()) {
    import_alignment_ = std::max<uint64_t>(import_alignment, 1);
    host_pointer_properties_ = reinterpret_cast<PFN_vkGetMemoryHostPointerPropertiesEXT>(
        vkGetDeviceProcAddr(device_, "vkGetMemoryHostPointerPropertiesEXT"));
    if (!host_pointer_properties_)
      throw DeviceError("VK_EXT_external_memory_host is enabled but has no entry points");
    block_size_ = block_size_ / import_alignment_ * import_alignment_;
  }
  VkPhysicalDeviceMemoryProperties mp{};
  vkGetPhysicalDeviceMemoryProperties(physical, &mp);
  const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  const VkMemoryPropertyFlags hv =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  uint64_t largest_dl_heap = 0;
  for (uint32_t h = 0; h < mp.memoryHeapCount; ++h)
    if (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      largest_dl_heap = std::max(largest_dl_heap, mp.memoryHeaps[h].size);

  int dl_type = -1, device_hv = -1, staging = -1;
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
    const uint64_t heap = mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size;
    if ((f & dl) && dl_type < 0) dl_type = static_cast<int>(i);
    // Host-visible device memory is used for everything only when its heap is the big one
    // (unified memory, resizable BAR), not a 256 MiB window.
    if ((f & dl) && (f & hv) == hv && heap * 2 >= largest_dl_heap && device_hv < 0)
      device_hv = static_cast<int>(i);
    if ((f & hv) == hv && staging < 0) staging = static_cast<int>(i);
  }
  if (staging < 0) throw DeviceError("device has no host-visible coherent memory type");
  if (device_hv >= 0) {
    device_type_ = device_hv;
    device_host_visible_ = true;
  } else if (dl_type >= 0) {
    device_type_ = dl_type;
  } else {
    device_type_ = staging;
    device_host_visible_ = true;
  }
  staging_type_ = staging;
  // Imported host memory is host-visible everywhere: one kind serves device buffers and staging.
  if (imports()) {
    if (!((mp.memoryTypes[device_type_].propertyFlags & hv) == hv)) device_type_ = staging_type_;
    staging_type_ = device_type_;
    device_host_visible_ = true;
  }
}

Allocator::~Allocator() {
  for (Block& b : blocks_) release(b);
}

void Allocator::release(Block& b) {
  for (size_t i = 0; i < b.peers.size(); ++i)
    if (b.peers[i]) vkFreeMemory(devices_[i + 1], b.peers[i], nullptr);
  if (b.memory) vkFreeMemory(device_, b.memory, nullptr);
  if (imports() && b.mapped) ::munmap(b.mapped, b.size);
  b = Block{};
}

int Allocator::new_block(uint64_t size, uint32_t type, bool dedicated) {
  auto ai = vk_init<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = size;
  ai.memoryTypeIndex = type;
  Block b;
  if (imports()) {
    // One host allocation, imported into every device.
    size = align_up(size, import_alignment_);
    void* host = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host == MAP_FAILED)
      throw DeviceError(
          fmt::format("cannot map {} MiB of host memory to share between the "
                      "split context's devices",
                      (size + (1 << 20) - 1) >> 20));
    b.mapped = static_cast<uint8_t*>(host);
    b.size = size;
    auto import = vk_init<VkImportMemoryHostPointerInfoEXT>(
        VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT);
    import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    import.pHostPointer = host;
    ai.pNext = &import;
    ai.allocationSize = size;
    b.peers.assign(devices_.size() - 1, VK_NULL_HANDLE);
    for (size_t d = 0; d < devices_.size(); ++d) {
      auto hp = vk_init<VkMemoryHostPointerPropertiesEXT>(
          VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT);
      VkResult r = host_pointer_properties_(
          devices_[d], VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, host, &hp);
      if (r == VK_SUCCESS && !(hp.memoryTypeBits & (1u << type)))
        r = VK_ERROR_INVALID_EXTERNAL_HANDLE;
      VkDeviceMemory m = VK_NULL_HANDLE;
      if (r == VK_SUCCESS) r = vkAllocateMemory(devices_[d], &ai, nullptr, &m);
      if (r != VK_SUCCESS) {
        release(b);
        throw VulkanError(r, fmt::format("importing {} MiB of host memory into device {} of the "
                                         "split context",
                                         (size + (1 << 20) - 1) >> 20, d));
      }
      (d == 0 ? b.memory : b.peers[d - 1]) = m;
    }
  } else {
    VkResult r = vkAllocateMemory(device_, &ai, nullptr, &b.memory);
    if (r != VK_SUCCESS)
      throw VulkanError(r, fmt::format("vkAllocateMemory({} MiB)", (size + (1 << 20) - 1) >> 20));
  }
  b.size = size;
  b.type = type;
  b.dedicated = dedicated;
  b.free.push_back({0, size});
  if (!imports() && (type == staging_type_ || (type == device_type_ && device_host_visible_))) {
    void* p = nullptr;
    vk_check(vkMapMemory(device_, b.memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    b.mapped = static_cast<uint8_t*>(p);
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i].memory == VK_NULL_HANDLE) {
      blocks_[i] = std::move(b);
      return static_cast<int>(i);
    }
  }
  blocks_.push_back(std::move(b));
  return static_cast<int>(blocks_.size() - 1);
}

Allocation Allocator::allocate(const VkMemoryRequirements& req, Kind kind) {
  std::lock_guard lock(mutex_);
  const uint32_t type = kind == Kind::Staging ? staging_type_ : device_type_;
  if (!(req.memoryTypeBits & (1u << type)))
    throw DeviceError("buffer cannot live in the memory type vkllm chose for it");
  const uint64_t align = std::max<uint64_t>(req.alignment, 256);

  auto take = [&](int bi) -> std::optional<Allocation> {
    Block& b = blocks_[bi];
    for (size_t i = 0; i < b.free.size(); ++i) {
      Range& r = b.free[i];
      const uint64_t start = align_up(r.offset, align);
      if (start + req.size > r.offset + r.size) continue;
      const uint64_t end = start + req.size;
      Range before{r.offset, start - r.offset}, after{end, r.offset + r.size - end};
      b.free.erase(b.free.begin() + i);
      if (after.size) b.free.insert(b.free.begin() + i, after);
      if (before.size) b.free.insert(b.free.begin() + i, before);
      b.used += req.size;
      return Allocation{b.memory, start, req.size, b.mapped ? b.mapped + start : nullptr, bi};
    }
    return std::nullopt;
  };

  if (req.size > block_size_) {
    const int bi = new_block(req.size, type, true);
    return *take(bi);
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i].memory == VK_NULL_HANDLE || blocks_[i].dedicated || blocks_[i].type != type)
      continue;
    if (auto a = take(static_cast<int>(i))) return *a;
  }
  return *take(new_block(block_size_, type, false));
}

void Allocator::free(const Allocation& a) {
  if (a.block < 0) return;
  std::lock_guard lock(mutex_);
  Block& b = blocks_[a.block];
  b.used -= a.size;
  if (b.dedicated || b.used == 0) {
    // Keep one empty shared block around for reuse; free dedicated ones at once.
    if (b.dedicated) {
      release(b);
      return;
    }
    b.free.assign(1, {0, b.size});
    return;
  }
  auto it = std::lower_bound(b.free.begin(), b.free.end(), a.offset,
                             [](const Range& r, uint64_t off) { return r.offset < off; });
  it = b.free.insert(it, {a.offset, a.size});
  // Coalesce with neighbours.
  if (it + 1 != b.free.end() && it->offset + it->size == (it + 1)->offset) {
    it->size += (it + 1)->size;
    b.free.erase(it + 1);
  }
  if (it != b.free.begin() && (it - 1)->offset + (it - 1)->size == it->offset) {
    (it - 1)->size += it->size;
    b.free.erase(it);
  }
}

VkDeviceMemory Allocator::memory_on(const Allocation& a, uint32_t lane) const {
  if (lane == 0) return a.memory;
  std::lock_guard lock(mutex_);
  return blocks_.at(a.block).peers.at(lane - 1);
}

uint64_t Allocator::block_count() const {
  std::lock_guard lock(mutex_);
  uint64_t n = 0;
  for (const Block& b : blocks_) n += b.memory != VK_NULL_HANDLE;
  return n;
}

uint64_t Allocator::bytes_reserved() const {
  std::lock_guard lock(mutex_);
  uint64_t n = 0;
  for (const Block& b : blocks_) n += b.size;
  return n;
}

uint64_t Allocator::bytes_in_use() const {
  std::lock_guard lock(mutex_);
  uint64_t n = 0;
  for (const Block& b : blocks_) n += b.used;
  return n;
}

Buffer::Buffer(VkDevice device, Allocator* allocator, VkBuffer buffer, Allocation a, uint64_t size,
               std::vector<std::pair<VkDevice, VkBuffer>> peers)
    : device_(device),
      allocator_(allocator),
      buffer_(buffer),
      alloc_(a),
      size_(size),
      peers_(std::move(peers)) {}

Buffer::~Buffer() {
  release();
}

Buffer::Buffer(Buffer&& o) noexcept {
  *this = std::move(o);
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    device_ = o.device_;
    allocator_ = o.allocator_;
    buffer_ = o.buffer_;
    alloc_ = o.alloc_;
    size_ = o.size_;
    peers_ = std::move(o.peers_);
    o.peers_.clear();
    o.buffer_ = VK_NULL_HANDLE;
    o.alloc_ = Allocation{};
    o.size_ = 0;
  }
  return *this;
}

void Buffer::release() {
  if (buffer_) vkDestroyBuffer(device_, buffer_, nullptr);
  for (auto& [dev, buf] : peers_) vkDestroyBuffer(dev, buf, nullptr);
  peers_.clear();
  if (allocator_) allocator_->free(alloc_);
  buffer_ = VK_NULL_HANDLE;
  alloc_ = Allocation{};
}

}  // namespace vkllm::rt
