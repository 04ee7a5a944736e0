// A scratch directory for the files a test process writes.
#pragma once
#include <filesystem>

namespace vkllm::test {

// <system temp directory>/vkllm-test-<pid>, created on first use and removed with its contents
// when the process exits.
std::filesystem::path scratch_dir();

}  // namespace vkllm::test
