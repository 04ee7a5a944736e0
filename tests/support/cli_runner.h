// Running the vkllm binary ($VKLLM_BINARY, set by ctest) from tests.
#pragma once
#include <filesystem>
#include <string>

namespace vkllm::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs `vkllm <args>` (args are passed to the shell as they are); captures stdout, stderr and the
// exit code. stdin is /dev/null. `env` ("NAME=value ...", shell-quoted) is set for this command
// only.
CliResult run_vkllm(const std::string& args, const std::string& env = "");

// `s` single-quoted for the shell.
std::string shell_quote(const std::string& s);

// The whole file as a string ("" if it cannot be read).
std::string slurp(const std::filesystem::path& p);

int count_lines(const std::string& s);

// Checks a one-line error message: exit code 1, stderr "error: ...\n" containing `must_contain`.
void check_one_line_error(const CliResult& r, const std::string& must_contain);

}  // namespace vkllm::test
