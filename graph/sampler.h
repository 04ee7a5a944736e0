// Token sampling from logits: greedy, or repetition penalty -> top-k -> temperature -> top-p ->
// min-p -> a draw from a seeded generator (same seed, same choices).
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <span>

namespace vkllm {

struct SamplerParams {
  float temperature = 0.8f;  // <= 0: greedy
  int32_t top_k = 40;        // 0: all tokens
  float top_p = 0.95f;       // 1: off
  float min_p = 0.05f;       // 0: off
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  uint64_t seed = 0xC0FFEE;
};

class Sampler {
 public:
  // Throws std::invalid_argument for out-of-range parameters.
  explicit Sampler(SamplerParams p);
  // Picks a token. NaN logits count as -inf; if all are -inf the lowest id is returned; +inf
  // logits share all the probability. Throws std::invalid_argument for empty logits.
  // Does not record the token: call accept() with what was actually used.
  int32_t sample(std::span<const float> logits);
  // Records a token for the repetition penalty.
  void accept(int32_t token);
  void reset();
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;
};

}  // namespace vkllm
