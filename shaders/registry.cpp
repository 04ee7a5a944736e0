#include "shaders/registry.h"

namespace vkllm::shaders {

std::span<const uint32_t> find(std::string_view name) {
  for (const Entry& e : all())
    if (e.name == name) return e.spirv;
  return {};
}

}  // namespace vkllm::shaders
