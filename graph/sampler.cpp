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
    double prob;
  };
  std::vector<Cand> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    c[i] = {std::isnan(logits[i]) ? -INFINITY : logits[i], static_cast<int32_t>(i), 0.0};

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

  // Top-k: the k best, in order (a heap of k: most candidates cost one comparison).
  const bool top_k = p_.top_k > 0 && static_cast<size_t>(p_.top_k) < c.size();
  if (top_k) {
    std::partial_sort(c.begin(), c.begin() + p_.top_k, c.end(), better);
    c.resize(p_.top_k);
  }
  const Cand best = top_k ? c[0] : *std::min_element(c.begin(), c.end(), better);
  if (best.logit == -INFINITY) return best.id;

  // Softmax at the temperature over the candidates, relative to the best logit. +inf logits
  // share all the mass.
  double sum = 0.0;
  for (Cand& x : c) {
    if (best.logit == INFINITY)
      x.prob = x.logit == INFINITY ? 1.0 : 0.0;
    else
      x.prob = std::exp((static_cast<double>(x.logit) - best.logit) / p_.temperature);
    sum += x.prob;
  }
  for (Cand& x : c) x.prob /= sum;
  const double floor = p_.min_p / sum;  // min-p times the best candidate's probability
  const bool cut = p_.top_p < 1.0f || p_.min_p > 0.0f;

  // Top-p and min-p keep a prefix of the candidates in order. Without top-k only that prefix is
  // sorted: min-p bounds it by probability (a partition), top-p by sorting prefixes of doubling
  // length until one holds top-p of the mass.
  size_t sorted = c.size();
  if (!top_k && cut) {
    size_t end = c.size();
    if (p_.min_p > 0.0f)
      end = std::partition(c.begin(), c.end(), [&](const Cand& x) { return x.prob >= floor; }) -
            c.begin();
    sorted = 0;
    double cum = 0.0;
    for (size_t want = std::min<size_t>(256, end);; want = std::min(end, 2 * want)) {
      if (want < end)
        std::nth_element(c.begin() + sorted, c.begin() + want, c.begin() + end, better);
      std::sort(c.begin() + sorted, c.begin() + want, better);
      for (; sorted < want; ++sorted) cum += c[sorted].prob;
      if (sorted == end || (p_.top_p < 1.0f && cum >= p_.top_p)) break;
    }
  }
  size_t keep = sorted;
  if (p_.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < keep) {
      cum += c[n++].prob;
      if (cum >= p_.top_p) break;
    }
    keep = std::max<size_t>(n, 1);
  }
  if (p_.min_p > 0.0f) {
    size_t n = 1;
    while (n < keep && c[n].prob >= floor) ++n;
    keep = n;
  }
  // The draw walks the kept candidates in order: best first where anything was cut, in id order
  // where nothing was (then no sort is needed).
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += c[i].prob;
  std::uniform_real_distribution<double> dist(0.0, total);
  double r = dist(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= c[i].prob;
    if (r < 0.0) return c[i].id;
  }
  return c[keep - 1].id;
}

}  // namespace vkllm
