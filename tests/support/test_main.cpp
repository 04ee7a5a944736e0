// Shared doctest main for every test executable. When a test used the Vulkan context, any
// validation message fails the whole run, even one no test case checked explicitly.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>

namespace vkllm::test {
uint64_t validation_messages_total();
void destroy_context();
}  // namespace vkllm::test

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  const uint64_t messages = vkllm::test::validation_messages_total();
  vkllm::test::destroy_context();
  if (messages > 0) {
    std::fprintf(stderr, "FAILED: the Vulkan validation layer reported %llu message(s)\n",
                 static_cast<unsigned long long>(messages));
    return rc ? rc : 1;
  }
  return rc;
}
