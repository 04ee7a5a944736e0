#include "runtime/device_profile.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <sstream>
#include <vector>

namespace vkllm::rt {

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Splits "k1=v1 k2=\"v 2\"" into pairs.
std::vector<std::pair<std::string, std::string>> match_pairs(const std::string& list,
                                                             const std::string& where) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < list.size() && std::isspace(static_cast<unsigned char>(list[i]))) ++i;
  };
  for (skip_space(); i < list.size(); skip_space()) {
    const size_t eq = list.find('=', i);
    const size_t space = list.find_first_of(" \t", i);
    if (eq == std::string::npos || (space != std::string::npos && space < eq))
      throw ProfileError(
          fmt::format("{}: expected KEY=VALUE in the match list, got '{}'", where,
                      list.substr(i, space == std::string::npos ? std::string::npos : space - i)));
    std::string key = list.substr(i, eq - i), value;
    i = eq + 1;
    if (i < list.size() && list[i] == '"') {
      const size_t close = list.find('"', i + 1);
      if (close == std::string::npos)
        throw ProfileError(fmt::format("{}: unterminated quote in the match list", where));
      value = list.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const size_t end = list.find_first_of(" \t", i);
      value = list.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? list.size() : end;
    }
    if (key.empty() || value.empty())
      throw ProfileError(fmt::format("{}: empty key or value in the match list", where));
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

uint32_t parse_id(const std::string& v, const std::string& where) {
  const bool hex = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
  const char* first = v.data() + (hex ? 2 : 0);
  const char* last = v.data() + v.size();
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(first, last, id, hex ? 16 : 10);
  if (ec != std::errc() || end != last || first == last)
    throw ProfileError(fmt::format("{}: '{}' is not a PCI id (0x10de or decimal)", where, v));
  return id;
}

const char* type_key(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "cpu";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual";
    default:
      return "other";
  }
}

}  // namespace

bool profile_section_matches(const std::string& match_list, const DeviceInfo& info,
                             const std::string& where) {
  const auto pairs = match_pairs(match_list, where);
  if (pairs.empty())
    throw ProfileError(fmt::format("{}: [match] needs at least one KEY=VALUE", where));
  bool all = true;  // every pair is checked, so a typo errs on every device
  for (const auto& [key, value] : pairs) {
    if (key == "type") {
      if (value != "cpu" && value != "discrete" && value != "integrated" && value != "virtual" &&
          value != "other")
        throw ProfileError(
            fmt::format("{}: unknown device type '{}' (cpu, discrete, integrated, virtual, other)",
                        where, value));
      all = all && value == type_key(info.type);
    } else if (key == "vendor") {
      all = all && parse_id(value, where) == info.vendor_id;
    } else if (key == "device") {
      all = all && parse_id(value, where) == info.device_id;
    } else if (key == "name") {
      all = all && info.name.find(value) != std::string::npos;
    } else if (key == "driver") {
      all = all && info.driver_name.find(value) != std::string::npos;
    } else {
      throw ProfileError(fmt::format(
          "{}: unknown match key '{}' (type, vendor, device, name, driver)", where, key));
    }
  }
  return all;
}

void apply_device_profile(const std::string& text, const std::string& origin,
                          const DeviceInfo& info, ProfileSettings& settings,
                          ProfileSettings* every) {
  std::istringstream in(text);
  std::string raw;
  bool active = false, in_section = false;
  for (int n = 1; std::getline(in, raw); ++n) {
    const std::string where = fmt::format("{}:{}", origin, n);
    const size_t hash = raw.find('#');
    const std::string line = trim(hash == std::string::npos ? raw : raw.substr(0, hash));
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']')
        throw ProfileError(fmt::format("{}: a section header ends with ']'", where));
      const std::string head = trim(line.substr(1, line.size() - 2));
      if (head == "all") {
        active = true;
      } else if (head.rfind("match", 0) == 0 &&
                 (head.size() == 5 || std::isspace(static_cast<unsigned char>(head[5])))) {
        active = profile_section_matches(head.substr(5), info, where);
      } else {
        throw ProfileError(fmt::format(
            "{}: unknown section '[{}]' (use [all] or [match KEY=VALUE ...])", where, head));
      }
      in_section = true;
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw ProfileError(fmt::format("{}: expected SETTING = VALUE, got '{}'", where, line));
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key.empty() || value.empty())
      throw ProfileError(fmt::format("{}: empty setting name or value", where));
    if (!in_section)
      throw ProfileError(fmt::format("{}: setting '{}' before any section", where, key));
    if (active) settings[key] = ProfileValue{value, where};
    if (every) (*every)[key] = ProfileValue{value, where};
  }
}

}  // namespace vkllm::rt
