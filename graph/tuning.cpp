#include "graph/tuning.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "runtime/device_profile.h"

namespace vkllm {

extern const char* const kBuiltinDeviceProfile;  // generated from graph/device_profiles.ini

namespace {

bool is_pow2(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

bool parse_bool(const std::string& v, bool& out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return out = true, true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return out = false, true;
  return false;
}

bool parse_uint(const std::string& v, uint32_t& out) {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size() && !v.empty();
}

// One setting: its name, what its values may be (for errors), and how to set it (false: out of
// range for this device).
struct Setting {
  const char* name;
  std::string allowed;
  std::function<bool(const std::string&, KernelTuning&)> set;
};

std::vector<Setting> settings(const rt::DeviceInfo& info) {
  const uint32_t max_wg = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);
  const uint32_t max_lanes = std::min(64u, max_wg);
  auto flag = [](bool KernelTuning::*field) {
    return [field](const std::string& v, KernelTuning& t) { return parse_bool(v, t.*field); };
  };
  auto uint_in = [](uint32_t KernelTuning::*field, std::function<bool(uint32_t)> ok) {
    return [field, ok](const std::string& v, KernelTuning& t) {
      uint32_t x = 0;
      if (!parse_uint(v, x) || !ok(x)) return false;
      t.*field = x;
      return true;
    };
  };
  return {
      {"texel_kernels", "true or false", flag(&KernelTuning::texel_kernels)},
      {"texel_lanes", "true or false", flag(&KernelTuning::texel_lanes)},
      {"lane_width", fmt::format("a power of two, 4..{}", max_lanes),
       uint_in(&KernelTuning::lane_width,
               [=](uint32_t x) { return is_pow2(x) && x >= 4 && x <= max_lanes; })},
      {"lane_rows", "2, 4, 8 or 16",
       uint_in(&KernelTuning::lane_rows,
               [](uint32_t x) { return x == 2 || x == 4 || x == 8 || x == 16; })},
      {"lane_rows_one", "2, 4 or 8",
       uint_in(&KernelTuning::lane_rows_one,
               [](uint32_t x) { return x == 2 || x == 4 || x == 8; })},
      {"batch_tokens", "1..8",
       uint_in(&KernelTuning::batch_tokens, [](uint32_t x) { return x >= 1 && x <= 8; })},
      {"batch_tokens_f16", "0..8 (0: batch_tokens)",
       uint_in(&KernelTuning::batch_tokens_f16, [](uint32_t x) { return x <= 8; })},
      {"subgroup_norms", "true or false", flag(&KernelTuning::subgroup_norms)},
      {"planar_larger", "true or false", flag(&KernelTuning::planar_larger)},
      {"attention_tokens", "1..8",
       uint_in(&KernelTuning::attention_tokens, [](uint32_t x) { return x >= 1 && x <= 8; })},
      {"single_thread_env", "NAME=VALUE (an environment variable's name: letters, digits, '_')",
       [](const std::string& v, KernelTuning& t) {
         const size_t eq = v.find('=');
         if (eq == 0 || eq == std::string::npos) return false;
         for (size_t i = 0; i < eq; ++i)
           if (!(std::isalnum(static_cast<unsigned char>(v[i])) || v[i] == '_')) return false;
         t.single_thread_env = v;
         return true;
       }},
      {"single_thread_max_mib", "0..65536",
       uint_in(&KernelTuning::single_thread_max_mib, [](uint32_t x) { return x <= 65536; })},
      {"split_lanes", "0..16 (0: one per core)",
       uint_in(&KernelTuning::split_lanes, [](uint32_t x) { return x <= 16; })},
      {"split_max_mib", "0..1048576 (0: any size)",
       uint_in(&KernelTuning::split_max_mib, [](uint32_t x) { return x <= 1048576; })},
      {"compile_lanes", "0..16 (0: one per core)",
       uint_in(&KernelTuning::compile_lanes, [](uint32_t x) { return x <= 16; })},
      {"elementwise_wg", fmt::format("a power of two, 1..{}", info.max_workgroup_size[0]),
       uint_in(&KernelTuning::elementwise_wg,
               [&info](uint32_t x) { return is_pow2(x) && x <= info.max_workgroup_size[0]; })},
  };
}

KernelTuning defaults(const rt::DeviceInfo& info) {
  KernelTuning t;
  const uint32_t max_wg = std::min(info.max_workgroup_size[0], info.max_workgroup_invocations);
  t.lane_width =
      pow2_floor(std::clamp(info.subgroup_size, 4u, std::max(4u, std::min(64u, max_wg))));
  t.elementwise_wg = std::min(pow2_floor(std::clamp<uint32_t>(info.subgroup_size * 8, 32, 256)),
                              pow2_floor(std::max(info.max_workgroup_size[0], 1u)));
  for (const auto& s : settings(info)) t.origin[s.name] = "default";
  return t;
}

// Sets the matched settings `found`; every setting named anywhere (`every`) must exist.
void apply(const rt::DeviceInfo& info, const rt::ProfileSettings& found,
           const rt::ProfileSettings& every, KernelTuning& t) {
  const auto table = settings(info);
  auto lookup = [&](const std::string& key) {
    return std::find_if(table.begin(), table.end(),
                        [&](const Setting& s) { return key == s.name; });
  };
  for (const auto& [key, v] : every) {
    if (lookup(key) != table.end()) continue;
    std::string names;
    for (const auto& s : table) names += std::string(names.empty() ? "" : ", ") + s.name;
    throw rt::ProfileError(fmt::format("{}: unknown setting '{}' ({})", v.origin, key, names));
  }
  for (const auto& [key, v] : found) {
    auto it = lookup(key);
    if (!it->set(v.value, t))
      throw rt::ProfileError(fmt::format("{}: {} = {} is out of range here (allowed: {})", v.origin,
                                         key, v.value, it->allowed));
    t.origin[key] = v.origin;
  }
}

KernelTuning tuning_from(const rt::DeviceInfo& info, const std::string& user_profile,
                         const std::string& origin) {
  KernelTuning t = defaults(info);
  rt::ProfileSettings found, every;
  rt::apply_device_profile(builtin_device_profile(), "built-in device profile", info, found,
                           &every);
  if (!user_profile.empty()) rt::apply_device_profile(user_profile, origin, info, found, &every);
  apply(info, found, every, t);
  return t;
}

void finish(const rt::DeviceInfo& info, KernelTuning& t) {
  if (t.texel_kernels && !info.texel_buffers) {
    t.texel_kernels = false;
    t.origin["texel_kernels"] += " (no texel buffers here: off)";
  }
}

}  // namespace

std::string tuning_summary(const KernelTuning& t) {
  return fmt::format(
             "texel_kernels={} texel_lanes={} lane_width={} lane_rows={} lane_rows_one={} "
             "batch_tokens={} batch_tokens_f16={} subgroup_norms={} attention_tokens={} "
             "elementwise_wg={} planar_larger={}",
             t.texel_kernels, t.texel_lanes, t.lane_width, t.lane_rows, t.lane_rows_one,
             t.batch_tokens, t.batch_tokens_f16, t.subgroup_norms, t.attention_tokens,
             t.elementwise_wg, t.planar_larger) +
         (t.single_thread_env.empty()
              ? std::string()
              : fmt::format(" single_thread_env={} single_thread_max_mib={} split_lanes={} "
                            "split_max_mib={} compile_lanes={}",
                            t.single_thread_env, t.single_thread_max_mib, t.split_lanes,
                            t.split_max_mib, t.compile_lanes));
}

std::string tuning_origins(const KernelTuning& t) {
  std::string set_by;
  for (const auto& [name, origin] : t.origin)
    if (origin != "default")
      set_by += fmt::format("{}{} ({})", set_by.empty() ? "" : ", ", name, origin);
  return set_by.empty() ? "defaults only" : set_by;
}

rt::DriverSetup driver_setup(const KernelTuning& t, const rt::DeviceInfo& info,
                             uint64_t weight_bytes, uint32_t cores) {
  if (t.single_thread_env.empty()) return {};
  const std::string name = t.single_thread_env.substr(0, t.single_thread_env.find('='));
  if (std::getenv(name.c_str())) return {};
  if (weight_bytes <= (uint64_t{t.single_thread_max_mib} << 20)) return {t.single_thread_env, 1};
  if (t.split_max_mib && weight_bytes > (uint64_t{t.split_max_mib} << 20)) {
    // The driver's own threads run the dispatches; more instances compile.
    const uint32_t lanes = std::min(t.compile_lanes ? t.compile_lanes : 16u, cores);
    if (lanes < 2 || !info.host_memory_import) return {};
    rt::DriverSetup s;
    s.split = lanes;
    s.compile_only = true;
    return s;
  }
  // Never more lanes than cores: a lane waiting at a meeting spins.
  const uint32_t lanes = std::min(t.split_lanes ? t.split_lanes : 16u, cores);
  if (lanes < 2 || !info.host_memory_import) return {};
  return {t.single_thread_env, lanes};
}

uint32_t pow2_floor(uint32_t v) {
  uint32_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

const std::string& builtin_device_profile() {
  static const std::string text = kBuiltinDeviceProfile;
  return text;
}

KernelTuning kernel_tuning(const rt::DeviceInfo& info, const std::string& user_profile,
                           const std::string& origin) {
  KernelTuning t = tuning_from(info, user_profile, origin);
  finish(info, t);
  return t;
}

KernelTuning kernel_tuning(const rt::DeviceInfo& info) {
  std::string text, origin;
  if (const char* path = std::getenv("VKLLM_DEVICE_PROFILE"); path && *path) {
    std::ifstream f(path, std::ios::binary);
    if (!f)
      throw rt::ProfileError(
          fmt::format("VKLLM_DEVICE_PROFILE: cannot open {}: {}", path, std::strerror(errno)));
    std::ostringstream ss;
    ss << f.rdbuf();
    text = ss.str();
    origin = path;
  }
  KernelTuning t = tuning_from(info, text, origin);
  if (const char* e = std::getenv("VKLLM_TEXEL_KERNELS"); e && *e) {
    t.texel_kernels = std::strcmp(e, "0") != 0;
    t.origin["texel_kernels"] = "VKLLM_TEXEL_KERNELS";
  }
  if (const char* e = std::getenv("VKLLM_PLANAR_LARGER"); e && *e) {
    t.planar_larger = std::strcmp(e, "0") != 0;
    t.origin["planar_larger"] = "VKLLM_PLANAR_LARGER";
  }
  if (const char* e = std::getenv("VKLLM_SPLIT"); e && *e) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(e, &end, 10);
    if (*end != '\0' || v > 16)
      throw rt::ProfileError(
          fmt::format("VKLLM_SPLIT='{}' is not a number of lanes 0..16 (0: one per core)", e));
    t.split_lanes = static_cast<uint32_t>(v);
    t.split_max_mib = 0;
    t.origin["split_lanes"] = t.origin["split_max_mib"] = "VKLLM_SPLIT";
  }
  finish(info, t);
  return t;
}

}  // namespace vkllm
