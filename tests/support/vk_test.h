// Test support for kernels: one shared Vulkan context (validation on when VKLLM_VALIDATION=1, as
// ctest sets it), random data, poisoned buffers and tolerance checks.
#pragma once
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/sequence.h"

namespace vkllm::test {

// The process-wide test context (created on first use).
rt::Context& context();
// A context whose dispatches are split across `lanes` driver instances of the same device
// (rt::ContextOptions::split), or null (with a message) where the device cannot share memory
// between instances.
std::unique_ptr<rt::Context> split_context(uint32_t lanes = 2, bool split_dispatches = true);
// True once context() has been called.
bool context_created();

// Uniform random floats in [lo, hi) from a fixed seed; never all zeros.
std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// A device buffer holding `data`.
template <class T>
rt::Buffer upload(const std::vector<T>& data) {
  rt::Buffer b = context().create_buffer(data.size() * sizeof(T));
  context().upload(b, 0, data.data(), data.size() * sizeof(T));
  return b;
}

// A device buffer of `bytes` filled with 0xFF bytes: a NaN in every f32 lane, so any element a
// kernel forgets to write fails the comparison.
rt::Buffer poisoned(uint64_t bytes);

template <class T>
std::vector<T> download(const rt::Buffer& b, size_t n) {
  std::vector<T> out(n);
  context().download(b, 0, out.data(), n * sizeof(T));
  return out;
}

// f16 helpers (quant/half.h conversions, round to nearest even): the halves of `f`, the floats of
// `h`, and `f` rounded to f16 and back.
std::vector<uint16_t> to_halves(const std::vector<float>& f);
std::vector<float> from_halves(const std::vector<uint16_t>& h);
std::vector<float> round_to_half(const std::vector<float>& f);

// Checks |got - want| <= rel * max(|want|, floor) element-wise; NaN never passes. Reports the
// worst element. `floor` keeps near-zero expected values from demanding absolute exactness.
void check_close(std::span<const float> got, std::span<const float> want, double rel,
                 double floor = 1.0, const std::string& what = "");

// Records `record(seq)`, submits and waits.
template <class F>
void run(F&& record) {
  rt::Sequence seq(context());
  seq.begin();
  record(seq);
  seq.end();
  seq.submit_and_wait();
}

// Fails the current test if validation reported anything since the last call.
void check_no_validation_messages();

// Path inside the shared folder (../shared from the repo root, or $VKLLM_SHARED_DIR).
std::string shared_path(const std::string& rel);

}  // namespace vkllm::test
