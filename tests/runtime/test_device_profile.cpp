// Device profiles: section matching, override order, and errors that name the file and line.
#include <doctest/doctest.h>

#include <string>

#include "runtime/device_profile.h"

using namespace vkllm;

namespace {

rt::DeviceInfo device(const char* name, VkPhysicalDeviceType type, const char* driver,
                      uint32_t vendor, uint32_t id) {
  rt::DeviceInfo d;
  d.name = name;
  d.type = type;
  d.driver_name = driver;
  d.vendor_id = vendor;
  d.device_id = id;
  return d;
}

rt::DeviceInfo gpu() {
  return device("Example GPU 7000", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, "exampledrv", 0x1002,
                0x73bf);
}

rt::DeviceInfo cpu() {
  return device("llvmpipe (LLVM 15.0.6, 256 bits)", VK_PHYSICAL_DEVICE_TYPE_CPU, "llvmpipe",
                0x10005, 0);
}

rt::ProfileSettings apply_text(const std::string& text, const rt::DeviceInfo& d) {
  rt::ProfileSettings s;
  rt::apply_device_profile(text, "p.ini", d, s);
  return s;
}

std::string error_of(const std::string& text) {
  try {
    apply_text(text, gpu());
  } catch (const rt::ProfileError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("device profile: sections match by type, ids, name and driver; later ones override") {
  const std::string text =
      "# comment line\n"
      "[all]\n"
      "a = 1   # trailing comment\n"
      "b = all\n"
      "\n"
      "[match type=cpu]\n"
      "b = cpu\n"
      "[match vendor=0x1002 device=29631]\n"  // 0x73bf in decimal
      "c = amd\n"
      "[match name=\"GPU 7000\" driver=example]\n"
      "b = by-name\n"
      "[match type=discrete vendor=0x10de]\n"  // AND: the vendor does not match
      "a = nvidia\n";
  const auto g = apply_text(text, gpu());
  CHECK(g.at("a").value == "1");
  CHECK(g.at("a").origin == "p.ini:3");
  CHECK(g.at("b").value == "by-name");
  CHECK(g.at("b").origin == "p.ini:11");
  CHECK(g.at("c").value == "amd");
  // `every` collects the settings of all sections, matching or not.
  rt::ProfileSettings s, every;
  rt::apply_device_profile(text, "p.ini", cpu(), s, &every);
  CHECK(every.at("c").value == "amd");
  CHECK(every.at("a").value == "nvidia");
  CHECK(s.at("a").value == "1");
  const auto c = apply_text(text, cpu());
  CHECK(c.at("b").value == "cpu");
  CHECK(c.count("c") == 0);
  CHECK(c.at("a").value == "1");
}

TEST_CASE("device profile: malformed lines are errors with the file and line, on any device") {
  CHECK(error_of("[all]\nno equals sign\n") ==
        "p.ini:2: expected SETTING = VALUE, got 'no equals sign'");
  CHECK(error_of("x = 1\n") == "p.ini:1: setting 'x' before any section");
  CHECK(error_of("[all\n").find("p.ini:1: a section header ends with ']'") == 0);
  CHECK(error_of("[cpu]\n").find("p.ini:1: unknown section '[cpu]'") == 0);
  CHECK(error_of("[match]\n").find("p.ini:1: [match] needs at least one KEY=VALUE") == 0);
  CHECK(error_of("[match colour=red]\n").find("p.ini:1: unknown match key 'colour'") == 0);
  CHECK(error_of("[match type=gpu]\n").find("p.ini:1: unknown device type 'gpu'") == 0);
  CHECK(error_of("[match vendor=nvidia]\n").find("p.ini:1: 'nvidia' is not a PCI id") == 0);
  CHECK(error_of("[match name=\"open]\n").find("p.ini:1: unterminated quote") == 0);
  CHECK(error_of("[match type]\n").find("p.ini:1: expected KEY=VALUE") == 0);
  // A typo in a section that does not match this device is still reported.
  CHECK(error_of("[match type=cpu]\nbroken line\n").find("p.ini:2:") == 0);
  CHECK(error_of("[all]\n = 3\n").find("p.ini:2: empty setting name or value") == 0);
}
