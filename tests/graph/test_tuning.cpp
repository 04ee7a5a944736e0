// Kernel settings: defaults from the device's features, the built-in profile, a user profile,
// VKLLM_TEXEL_KERNELS and VKLLM_PLANAR_LARGER, with errors naming the file and line.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "graph/tuning.h"
#include "runtime/device_profile.h"
#include "support/scratch.h"

using namespace vkllm;

namespace {

rt::DeviceInfo device(VkPhysicalDeviceType type, uint32_t subgroup) {
  rt::DeviceInfo d;
  d.name = "test device";
  d.type = type;
  d.subgroup_size = subgroup;
  d.texel_buffers = true;
  d.max_workgroup_size = {1024, 1024, 64};
  d.max_workgroup_invocations = 1024;
  return d;
}

std::string error_of(const rt::DeviceInfo& d, const std::string& profile) {
  try {
    kernel_tuning(d, profile, "u.ini");
  } catch (const rt::ProfileError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("tuning: defaults from the features; the built-in profile picks the CPU kernels") {
  const auto cpu = kernel_tuning(device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8), "", "");
  CHECK(cpu.texel_kernels);
  CHECK(cpu.texel_lanes);
  CHECK(cpu.lane_width == 8);
  CHECK(cpu.lane_rows == 8);
  CHECK(cpu.lane_rows_one == 8);  // the built-in profile's
  CHECK(cpu.batch_tokens == 4);  // the built-in profile's, for shorter compiles
  CHECK(cpu.batch_tokens_f16 == 8);
  CHECK(cpu.origin.at("batch_tokens").rfind("built-in device profile:", 0) == 0);
  CHECK(cpu.attention_tokens == 4);  // the built-in profile's
  CHECK(cpu.subgroup_norms);
  CHECK(cpu.planar_larger);
  CHECK(cpu.origin.at("attention_tokens").rfind("built-in device profile:", 0) == 0);
  CHECK(cpu.elementwise_wg == 64);
  CHECK(cpu.origin.at("texel_kernels").rfind("built-in device profile:", 0) == 0);
  CHECK(cpu.origin.at("lane_rows") == "default");

  const auto gpu = kernel_tuning(device(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 32), "", "");
  CHECK_FALSE(gpu.texel_kernels);
  CHECK_FALSE(gpu.texel_lanes);
  CHECK(gpu.lane_width == 32);
  CHECK(gpu.elementwise_wg == 256);
  CHECK(gpu.batch_tokens == 8);
  CHECK(gpu.batch_tokens_f16 == 0);  // as batch_tokens
  CHECK(gpu.attention_tokens == 1);
  CHECK_FALSE(gpu.subgroup_norms);
  CHECK(gpu.origin.at("texel_kernels") == "default");

  // A subgroup of 64+ and a small workgroup limit clamp the lane width.
  auto small = device(VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU, 64);
  small.max_workgroup_size = {32, 32, 32};
  small.max_workgroup_invocations = 32;
  const auto s = kernel_tuning(small, "", "");
  CHECK(s.lane_width == 32);
  CHECK(s.elementwise_wg == 32);
}

TEST_CASE("tuning: pow2_floor") {
  CHECK(pow2_floor(0) == 1);
  CHECK(pow2_floor(1) == 1);
  CHECK(pow2_floor(63) == 32);
  CHECK(pow2_floor(64) == 64);
  CHECK(pow2_floor(1000) == 512);
}

TEST_CASE("tuning: a user profile overrides the built-in one, setting by setting") {
  const auto d = device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8);
  const auto t = kernel_tuning(d,
                               "[match type=cpu]\n"
                               "lane_rows = 4\n"
                               "batch_tokens = 3\n"
                               "[match type=discrete]\n"
                               "lane_rows = 16\n"
                               "[all]\n"
                               "texel_lanes = off\n",
                               "u.ini");
  CHECK(t.lane_rows == 4);
  CHECK(t.origin.at("lane_rows") == "u.ini:2");
  CHECK(t.batch_tokens == 3);
  CHECK_FALSE(t.texel_lanes);
  CHECK(t.origin.at("texel_lanes") == "u.ini:7");
  CHECK(t.texel_kernels);  // still the built-in profile's

  // Texel kernels asked for where the device has no texel buffers stay off, and say so.
  auto no_texel = d;
  no_texel.texel_buffers = false;
  const auto n = kernel_tuning(no_texel, "", "");
  CHECK_FALSE(n.texel_kernels);
  CHECK(n.origin.at("texel_kernels").find("no texel buffers here: off") != std::string::npos);
}

TEST_CASE("tuning: unknown settings and values out of range are errors naming the line") {
  const auto d = device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8);
  CHECK(error_of(d, "[all]\nlane_rowz = 4\n").rfind("u.ini:2: unknown setting 'lane_rowz' (", 0) ==
        0);
  CHECK(error_of(d, "[all]\nlane_rows = 5\n") ==
        "u.ini:2: lane_rows = 5 is out of range here (allowed: 2, 4, 8 or 16)");
  CHECK(error_of(d, "[all]\nlane_width = 128\n") ==
        "u.ini:2: lane_width = 128 is out of range here (allowed: a power of two, 4..64)");
  CHECK(error_of(d, "[all]\nlane_width = 12\n").find("out of range") != std::string::npos);
  CHECK(error_of(d, "[all]\nbatch_tokens = 0\n").find("allowed: 1..8") != std::string::npos);
  CHECK(error_of(d, "[all]\nattention_tokens = 9\n").find("allowed: 1..8") != std::string::npos);
  CHECK(error_of(d, "[all]\ntexel_lanes = maybe\n").find("allowed: true or false") !=
        std::string::npos);
  CHECK(error_of(d, "[all]\nelementwise_wg = 2048\n").find("1..1024") != std::string::npos);
  CHECK(error_of(d, "[all]\nlane_rows_one = -2\n").find("out of range") != std::string::npos);
  // An unknown setting in a section for other devices is an error too.
  CHECK(error_of(d, "[match type=discrete]\nfoo = 1\n").find("unknown setting 'foo'") !=
        std::string::npos);
}

TEST_CASE("tuning: VKLLM_DEVICE_PROFILE, VKLLM_TEXEL_KERNELS and VKLLM_PLANAR_LARGER") {
  const auto d = device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8);
  const std::string path = (test::scratch_dir() / "tuning.ini").string();
  {
    std::ofstream f(path);
    f << "[match type=cpu]\nlane_width = 16\nplanar_larger = false\n";
  }
  ::setenv("VKLLM_DEVICE_PROFILE", path.c_str(), 1);
  ::setenv("VKLLM_TEXEL_KERNELS", "0", 1);
  const auto t = kernel_tuning(d);
  CHECK(t.lane_width == 16);
  CHECK(t.origin.at("lane_width") == path + ":2");
  CHECK_FALSE(t.texel_kernels);
  CHECK(t.origin.at("texel_kernels") == "VKLLM_TEXEL_KERNELS");
  CHECK_FALSE(t.planar_larger);
  CHECK(t.origin.at("planar_larger") == path + ":3");
  ::unsetenv("VKLLM_TEXEL_KERNELS");
  ::setenv("VKLLM_PLANAR_LARGER", "1", 1);  // the environment after the profile
  const auto e = kernel_tuning(d);
  CHECK(e.planar_larger);
  CHECK(e.origin.at("planar_larger") == "VKLLM_PLANAR_LARGER");
  ::unsetenv("VKLLM_PLANAR_LARGER");
  std::filesystem::remove(path);  // now the profile file is missing
  std::string err;
  try {
    kernel_tuning(d);
  } catch (const rt::ProfileError& e) {
    err = e.what();
  }
  CHECK(err.rfind("VKLLM_DEVICE_PROFILE: cannot open " + path, 0) == 0);
  ::unsetenv("VKLLM_DEVICE_PROFILE");
}

TEST_CASE(
    "tuning: small models on llvmpipe run without its worker threads, unless the user chose") {
  rt::DeviceInfo lvp = device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8);
  lvp.driver_name = "llvmpipe";
  const auto t = kernel_tuning(lvp, "", "");
  CHECK(t.single_thread_env == "LP_NUM_THREADS=0");
  CHECK(t.single_thread_max_mib == 4);
  CHECK(t.origin.at("single_thread_env").rfind("built-in device profile:", 0) == 0);
  // Another CPU driver and GPUs have no such setting.
  CHECK(kernel_tuning(device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8), "", "").single_thread_env.empty());
  CHECK(kernel_tuning(device(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 32), "", "")
            .single_thread_env.empty());

  // The setting applies up to the size limit, and not where the environment names the variable.
  KernelTuning u = kernel_tuning(lvp,
                                 "[all]\nsingle_thread_env = VKLLM_TEST_SMALL_MODEL=1\n"
                                 "single_thread_max_mib = 2\n",
                                 "u.ini");
  CHECK(u.single_thread_env == "VKLLM_TEST_SMALL_MODEL=1");
  CHECK(u.origin.at("single_thread_env") == "u.ini:2");
  ::unsetenv("VKLLM_TEST_SMALL_MODEL");
  CHECK(driver_setup(u, lvp, 2u << 20, 2).setting == "VKLLM_TEST_SMALL_MODEL=1");
  CHECK(driver_setup(u, lvp, 2u << 20, 2).split == 1);
  CHECK(driver_setup(u, lvp, (2u << 20) + 1, 2).setting.empty());
  ::setenv("VKLLM_TEST_SMALL_MODEL", "7", 1);
  CHECK(driver_setup(u, lvp, 1000, 2).setting.empty());
  ::unsetenv("VKLLM_TEST_SMALL_MODEL");
  CHECK(tuning_summary(u).find("single_thread_env=VKLLM_TEST_SMALL_MODEL=1") != std::string::npos);

  const auto d = device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8);
  CHECK(error_of(d, "[all]\nsingle_thread_env = =1\n").find("NAME=VALUE") != std::string::npos);
  CHECK(error_of(d, "[all]\nsingle_thread_env = A-B=1\n").find("NAME=VALUE") != std::string::npos);
  CHECK(error_of(d, "[all]\nsingle_thread_env = NOVALUE\n").find("NAME=VALUE") !=
        std::string::npos);
  CHECK(error_of(d, "[all]\nsingle_thread_max_mib = 70000\n").find("0..65536") !=
        std::string::npos);
}

TEST_CASE("tuning: larger models on llvmpipe split each dispatch across instances, within limits") {
  rt::DeviceInfo lvp = device(VK_PHYSICAL_DEVICE_TYPE_CPU, 8);
  lvp.driver_name = "llvmpipe";
  lvp.host_memory_import = true;
  const auto t = kernel_tuning(lvp, "", "");
  CHECK(t.split_lanes == 2);
  CHECK(t.split_max_mib == 128);
  CHECK(t.compile_lanes == 2);
  CHECK(t.origin.at("split_lanes").rfind("built-in device profile:", 0) == 0);
  CHECK(kernel_tuning(device(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 32), "", "").split_lanes == 1);

  // The same rules with an environment variable of the test's own (ctest sets LP_NUM_THREADS).
  KernelTuning u =
      kernel_tuning(lvp,
                    "[all]\nsingle_thread_env = VKLLM_TEST_SPLIT_ENV=0\n"
                    "single_thread_max_mib = 4\nsplit_lanes = 2\nsplit_max_mib = 128\n",
                    "u.ini");
  ::unsetenv("VKLLM_TEST_SPLIT_ENV");
  const uint64_t mib = 1u << 20;
  // Small: one lane, no pool. Between the limits: two lanes. Over them: the driver's own threads.
  CHECK(driver_setup(u, lvp, 4 * mib, 2).split == 1);
  const auto mid = driver_setup(u, lvp, 14 * mib, 2);
  CHECK(mid.setting == "VKLLM_TEST_SPLIT_ENV=0");
  CHECK(mid.split == 2);
  u.compile_lanes = 1;  // the built-in profile's 2 for llvmpipe, here none
  const auto big = driver_setup(u, lvp, 128 * mib + 1, 2);
  CHECK(big.setting.empty());
  CHECK(big.split == 0);
  CHECK_FALSE(big.compile_only);
  // Over the limit with compile_lanes: the pool runs the dispatches, more instances compile.
  u.compile_lanes = 2;
  const auto compiling = driver_setup(u, lvp, 128 * mib + 1, 2);
  CHECK(compiling.setting.empty());
  CHECK(compiling.split == 2);
  CHECK(compiling.compile_only);
  CHECK_FALSE(driver_setup(u, lvp, 14 * mib, 2).compile_only);
  CHECK(driver_setup(u, lvp, 128 * mib + 1, 1).split == 0);  // one core: nothing to share
  u.compile_lanes = 0;                                       // one per core
  CHECK(driver_setup(u, lvp, 128 * mib + 1, 3).split == 3);
  rt::DeviceInfo cannot_share = lvp;
  cannot_share.host_memory_import = false;
  CHECK(driver_setup(u, cannot_share, 128 * mib + 1, 2).split == 0);
  // Never more lanes than cores, none without shared memory, none when the user set the variable.
  CHECK(driver_setup(u, lvp, 14 * mib, 1).setting.empty());
  u.split_lanes = 0;  // one per core
  CHECK(driver_setup(u, lvp, 14 * mib, 3).split == 3);
  rt::DeviceInfo no_import = lvp;
  no_import.host_memory_import = false;
  CHECK(driver_setup(u, no_import, 14 * mib, 2).setting.empty());
  ::setenv("VKLLM_TEST_SPLIT_ENV", "4", 1);
  CHECK(driver_setup(u, lvp, 14 * mib, 2).setting.empty());
  ::unsetenv("VKLLM_TEST_SPLIT_ENV");
  CHECK(error_of(lvp, "[all]\nsplit_lanes = 17\n").find("0..16") != std::string::npos);
  CHECK(error_of(lvp, "[all]\ncompile_lanes = 17\n").find("0..16") != std::string::npos);

  // VKLLM_SPLIT sets the lanes for any size; a bad value is an error naming it.
  ::setenv("VKLLM_SPLIT", "3", 1);
  const auto e = kernel_tuning(lvp);
  CHECK(e.split_lanes == 3);
  CHECK(e.split_max_mib == 0);
  CHECK(e.origin.at("split_lanes") == "VKLLM_SPLIT");
  ::setenv("VKLLM_SPLIT", "two", 1);
  std::string err;
  try {
    kernel_tuning(lvp);
  } catch (const rt::ProfileError& x) {
    err = x.what();
  }
  CHECK(err.find("VKLLM_SPLIT='two'") != std::string::npos);
  ::unsetenv("VKLLM_SPLIT");
}
