// Errors raised by the Vulkan runtime: every failing Vulkan call becomes a VulkanError naming the
// VkResult and the operation.
#pragma once
#include <vulkan/vulkan.h>

#include <stdexcept>
#include <string>

namespace vkllm::rt {

const char* vk_result_name(VkResult r);

class VulkanError : public std::runtime_error {
 public:
  VulkanError(VkResult result, const std::string& operation);
  VkResult result() const { return result_; }

 private:
  VkResult result_;
};

// A device, memory or configuration problem that is not a failing Vulkan call (missing feature,
// buffer over a device limit, no device at all).
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void vk_check(VkResult r, const char* operation) {
  if (r != VK_SUCCESS) throw VulkanError(r, operation);
}

}  // namespace vkllm::rt

namespace vkllm::rt {
// A zero-initialised Vulkan info struct with its sType set.
template <class T>
T vk_init(VkStructureType s) {
  T v{};
  v.sType = s;
  return v;
}
}  // namespace vkllm::rt
