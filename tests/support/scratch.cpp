#include "support/scratch.h"

#include <unistd.h>

#include <string>
#include <system_error>

namespace fs = std::filesystem;

namespace vkllm::test {

namespace {

struct ScratchDir {
  fs::path path;
  ScratchDir() : path(fs::temp_directory_path() / ("vkllm-test-" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

fs::path scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

}  // namespace vkllm::test
