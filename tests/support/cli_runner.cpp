#include "support/cli_runner.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace vkllm::test {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

fs::path cli_scratch() {
  static fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("vkllm-cli-run-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

CliResult run_vkllm(const std::string& args) {
  const char* bin = std::getenv("VKLLM_BINARY");
  REQUIRE_MESSAGE(bin, "VKLLM_BINARY is not set (run through ctest)");
  const fs::path out = cli_scratch() / "stdout", err = cli_scratch() / "stderr";
  const std::string cmd = shell_quote(bin) + " " + args + " >" + shell_quote(out.string()) + " 2>" +
                          shell_quote(err.string()) + " </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void check_one_line_error(const CliResult& r, const std::string& must_contain) {
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.rfind("error: ", 0) == 0);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find(must_contain) != std::string::npos);
}

}  // namespace vkllm::test
