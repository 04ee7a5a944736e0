// Embedded SPIR-V modules, one per variant declared in shaders/variants.cmake.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vkllm::shaders {

struct Entry {
  std::string_view name;
  std::span<const uint32_t> spirv;
};

// Every embedded module, in declaration order.
const std::vector<Entry>& all();

// The module named `name`, or an empty span if there is none.
std::span<const uint32_t> find(std::string_view name);

}  // namespace vkllm::shaders
