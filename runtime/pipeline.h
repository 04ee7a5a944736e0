// Compute pipelines built from embedded SPIR-V with specialization and push constants.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vkllm::rt {

struct PipelineDesc {
  std::string shader;          // variant name in the shader registry
  uint32_t bindings = 0;       // number of storage buffers, bindings 0..n-1 of set 0
  uint32_t push_size = 0;      // bytes of push constants
  std::vector<uint32_t> spec;  // specialization constants with ids 0..n-1 (id 0: workgroup size)
  // Per binding: VK_FORMAT_UNDEFINED (or no entry) = storage buffer; any other format = uniform
  // texel buffer read through a view of that format (GLSL `uniform samplerBuffer`).
  std::vector<VkFormat> texel = {};

  bool is_texel(uint32_t binding) const {
    return binding < texel.size() && texel[binding] != VK_FORMAT_UNDEFINED;
  }

  std::string key() const;
};

struct Pipeline {
  PipelineDesc desc;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  std::string label;  // shader name plus spec constants, for profiling
};

}  // namespace vkllm::rt
