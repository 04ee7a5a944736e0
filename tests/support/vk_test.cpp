#include "support/vk_test.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>

#include "quant/half.h"

namespace vkllm::test {

namespace {
std::unique_ptr<rt::Context>& context_ptr() {
  static std::unique_ptr<rt::Context> ctx;
  return ctx;
}
uint64_t g_seen_messages = 0;
}  // namespace

rt::Context& context() {
  auto& p = context_ptr();
  if (!p) {
    rt::ContextOptions o;
    o.notices = false;
    p = std::make_unique<rt::Context>(o);
  }
  return *p;
}

std::unique_ptr<rt::Context> split_context(uint32_t lanes, bool split_dispatches) {
  const auto devices = rt::list_devices();
  const auto& d = devices[rt::choose_device(devices, -1)];
  if (!d.host_memory_import) {
    MESSAGE("no VK_EXT_external_memory_host on " << d.name << ": no split context");
    return nullptr;
  }
  rt::ContextOptions o;
  o.notices = false;
  o.split = lanes;
  o.split_dispatches = split_dispatches;
  return std::make_unique<rt::Context>(o);
}

bool context_created() {
  return context_ptr() != nullptr;
}

uint64_t validation_messages_total() {
  return context_created() ? context().validation_messages() : 0;
}

void destroy_context() {
  context_ptr().reset();
}

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> to_halves(const std::vector<float>& f) {
  std::vector<uint16_t> h(f.size());
  for (size_t i = 0; i < f.size(); ++i) h[i] = fp32_to_fp16(f[i]);
  return h;
}

std::vector<float> from_halves(const std::vector<uint16_t>& h) {
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = fp16_to_fp32(h[i]);
  return f;
}

std::vector<float> round_to_half(const std::vector<float>& f) {
  return from_halves(to_halves(f));
}

rt::Buffer poisoned(uint64_t bytes) {
  std::vector<uint8_t> ff(bytes, 0xFF);
  rt::Buffer b = context().create_buffer(bytes);
  context().upload(b, 0, ff.data(), bytes);
  return b;
}

void check_close(std::span<const float> got, std::span<const float> want, double rel, double floor,
                 const std::string& what) {
  REQUIRE_MESSAGE(got.size() == want.size(), what << ": size mismatch");
  size_t worst = 0, bad = 0;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double scale = std::max(std::fabs(static_cast<double>(want[i])), floor);
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double ratio = std::isnan(err) || std::isnan(got[i]) ? INFINITY : err / scale;
    if (ratio > rel) ++bad;
    if (ratio > worst_ratio || (i == 0 && ratio >= worst_ratio)) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  INFO(what << ": " << bad << " of " << got.size() << " elements out of tolerance " << rel
            << "; worst at " << worst << ": got " << got[worst] << ", want " << want[worst]
            << " (relative error " << worst_ratio << ")");
  CHECK(bad == 0);
}

void check_no_validation_messages() {
  const uint64_t total = validation_messages_total();
  CHECK_MESSAGE(total == g_seen_messages,
                "validation layer reported " << total - g_seen_messages << " message(s)");
  g_seen_messages = total;
}

std::string shared_path(const std::string& rel) {
  const char* d = std::getenv("VKLLM_SHARED_DIR");
  std::string base = d && *d ? d : "../shared";
  return base + "/" + rel;
}

}  // namespace vkllm::test
