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
  // storage texel buffer read through a view of that format (GLSL `imageBuffer`,
  // shaders/texel.glsl).
  std::vector<VkFormat> texel = {};
  // Split contexts (ContextOptions::split): the workgroup dimension whose range the lanes divide.
  // -1: the last one with more than one workgroup (right for every kernel whose workgroups cost
  // alike and that linearises a 2-D grid as x + y * gl_NumWorkGroups.x); 0..2 for a kernel whose
  // workgroups differ in cost along that dimension otherwise (causal attention: later tokens
  // attend to more keys, so the lanes divide the heads). Not part of the key.
  int split_dim = -1;

  bool is_texel(uint32_t binding) const {
    return binding < texel.size() && texel[binding] != VK_FORMAT_UNDEFINED;
  }

  std::string key() const;
};

// The Vulkan objects of a pipeline on one device.
struct PipelineObjects {
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
};

struct Pipeline : PipelineObjects {
  PipelineDesc desc;
  std::string label;  // shader name plus spec constants, for profiling
  // The same pipeline on lanes 1.. of a split context (lane 0's are the members above).
  std::vector<PipelineObjects> peers;

  const PipelineObjects& on(uint32_t lane) const { return lane == 0 ? *this : peers[lane - 1]; }
};

}  // namespace vkllm::rt
