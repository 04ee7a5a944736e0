#include "graph/sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace vkllm {

Sampler::Sampler(SamplerParams p) : p_(p), rng_(p.seed) {
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f)
    throw std::invalid_argument(fmt::format("temperature must be >= 0, got {}", p.temperature));
  if (p.top_k < 0) throw std::invalid_argument(fmt::format("top-k must be >= 0, got {}", p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    throw std::invalid_argument(fmt::format("top-p must be in (0, 1], got {}", p.top_p));
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    throw std::invalid_argument(fmt::format("min-p must be in [0, 1], got {}", p.min_p));
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty))
    throw std::invalid_argument(
        fmt::format("repeat penalty must be > 0, got {}", p.repeat_penalty));
  if (p.repeat_last_n < 0)
    throw std::invalid_argument(fmt::format("repeat-last-n must be >= 0, got {}", p.repeat_last_n));
}

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n == 0) return;
  history_.push_back(token);
  while (history_.size() > static_cast<size_t>(p_.repeat_last_n)) history_.pop_front();
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(p_.seed);
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("sample: no logits");
  struct Cand {
    float logit;
    int32_t id;
  };
  std::vector<Cand> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    c[i] = {std::isnan(logits[i]) ? -INFINITY : logits[i], static_cast<int32_t>(i)};

  if (p_.repeat_penalty != 1.0f) {
    std::vector<bool> seen(c.size(), false);
    for (int32_t t : history_) {
      if (t < 0 || static_cast<size_t>(t) >= c.size() || seen[t]) continue;
      seen[t] = true;
      float& l = c[t].logit;
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }
  // Best first; ties by lower id, so greedy is deterministic.
  auto better = [](const Cand& a, const Cand& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (p_.temperature <= 0.0f) return std::min_element(c.begin(), c.end(), better)->id;

  size_t keep = c.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) keep = p_.top_k;
  std::partial_sort(c.begin(), c.begin() + keep, c.end(), better);
  c.resize(keep);
  if (c[0].logit == -INFINITY) return c[0].id;

  // Softmax at the temperature, relative to the best logit. +inf logits share all the mass.
  std::vector<double> prob(keep);
  double sum = 0.0;
  const bool top_inf = c[0].logit == INFINITY;
  for (size_t i = 0; i < keep; ++i) {
    if (top_inf)
      prob[i] = c[i].logit == INFINITY ? 1.0 : 0.0;
    else
      prob[i] = std::exp((static_cast<double>(c[i].logit) - c[0].logit) / p_.temperature);
    sum += prob[i];
  }
  for (double& p : prob) p /= sum;
  if (p_.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < keep) {
      cum += prob[n++];
      if (cum >= p_.top_p) break;
    }
    keep = std::max<size_t>(n, 1);
  }
  if (p_.min_p > 0.0f) {
    const double floor = p_.min_p * prob[0];
    size_t n = 1;
    while (n < keep && prob[n] >= floor) ++n;
    keep = n;
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += prob[i];
  std::uniform_real_distribution<double> dist(0.0, total);
  double r = dist(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= prob[i];
    if (r < 0.0) return c[i].id;
  }
  return c[keep - 1].id;
}

}  // namespace vkllm
