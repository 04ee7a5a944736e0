#include "support/cli_runner.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/scratch.h"

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

CliResult run_vkllm(const std::string& args, const std::string& env) {
  const char* bin = std::getenv("VKLLM_BINARY");
  REQUIRE_MESSAGE(bin, "VKLLM_BINARY is not set (run through ctest)");
  const fs::path out = scratch_dir() / "stdout", err = scratch_dir() / "stderr";
  const std::string cmd = (env.empty() ? "" : "env " + env + " ") + shell_quote(bin) + " " + args +
                          " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) +
                          " </dev/null";
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
