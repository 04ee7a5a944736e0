// Sampler: greedy, reproducibility, the filters, repetition penalty and the distribution itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "graph/sampler.h"

using namespace vkllm;

namespace {
SamplerParams plain(float temp, uint64_t seed = 7) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

// The filters written the plain way: every candidate sorted, then top-k, top-p, min-p and the draw
// (the same generator and distribution as Sampler). The softmax is normalized over the top-k
// candidates in order, or without top-k over all tokens in id order, as Sampler sums them; with
// nothing cut the draw walks the tokens in id order.
struct ReferenceSampler {
  SamplerParams p;
  std::mt19937_64 rng{p.seed};
  int32_t sample(const std::vector<float>& logits) {
    const size_t n = logits.size();
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto key = [&](int32_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; };
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
    const float top = key(order[0]);
    if (top == -INFINITY) return order[0];
    auto weight = [&](int32_t i) {
      return top == INFINITY ? (key(i) == INFINITY ? 1.0 : 0.0)
                             : std::exp((double(key(i)) - top) / p.temperature);
    };
    const bool top_k = p.top_k > 0 && size_t(p.top_k) < n;
    std::vector<int32_t> cand = order;
    if (top_k) cand.resize(p.top_k);
    double sum = 0.0;
    if (top_k) {
      for (int32_t i : cand) sum += weight(i);
    } else {
      for (size_t i = 0; i < n; ++i) sum += weight(int32_t(i));
    }
    size_t keep = cand.size();
    if (p.top_p < 1.0f) {
      double cum = 0.0;
      size_t k = 0;
      while (k < keep) {
        cum += weight(cand[k++]) / sum;
        if (cum >= p.top_p) break;
      }
      keep = std::max<size_t>(k, 1);
    }
    if (p.min_p > 0.0f) {
      size_t k = 1;
      while (k < keep && weight(cand[k]) / sum >= p.min_p / sum) ++k;
      keep = k;
    }
    if (!top_k && p.top_p >= 1.0f && p.min_p <= 0.0f)
      std::iota(cand.begin(), cand.end(), 0);  // nothing cut: the draw in id order
    double total = 0.0;
    for (size_t i = 0; i < keep; ++i) total += weight(cand[i]) / sum;
    std::uniform_real_distribution<double> dist(0.0, total);
    double r = dist(rng);
    for (size_t i = 0; i < keep; ++i) {
      r -= weight(cand[i]) / sum;
      if (r < 0.0) return cand[i];
    }
    return cand[keep - 1];
  }
};
}  // namespace

TEST_CASE("sampler: greedy picks the argmax, ties go to the lowest id") {
  Sampler s(plain(0.0f));
  CHECK(s.sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}) == 1);
  CHECK(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f}) == 1);
  CHECK(s.sample(std::vector<float>{NAN, -1.0f, NAN}) == 1);
  CHECK(s.sample(std::vector<float>{-INFINITY, -INFINITY}) == 0);
}

TEST_CASE("sampler: the same seed gives the same sequence, another seed another") {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(i * 1.7f);
  auto draw = [&](uint64_t seed) {
    Sampler s(plain(1.0f, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 100; ++i) out.push_back(s.sample(logits));
    return out;
  };
  CHECK(draw(42) == draw(42));
  CHECK(draw(42) != draw(43));
}

TEST_CASE("sampler: top-k 1, a tiny top-p and min-p 1 all reduce to greedy") {
  std::vector<float> logits{0.5f, 1.0f, 0.9f, 0.2f};
  for (int variant = 0; variant < 3; ++variant) {
    SamplerParams p = plain(1.5f);
    if (variant == 0) p.top_k = 1;
    if (variant == 1) p.top_p = 1e-6f;
    if (variant == 2) p.min_p = 1.0f;
    Sampler s(p);
    for (int i = 0; i < 50; ++i) CHECK(s.sample(logits) == 1);
  }
}

TEST_CASE("sampler: min-p drops unlikely tokens") {
  // p ~ {0.665, 0.245, 0.090}: min-p 0.2 keeps ids 0 and 1 only.
  SamplerParams p = plain(1.0f);
  p.min_p = 0.2f;
  Sampler s(p);
  std::vector<float> logits{2.0f, 1.0f, 0.0f};
  for (int i = 0; i < 500; ++i) CHECK(s.sample(logits) != 2);
}

TEST_CASE("sampler: repetition penalty changes the argmax") {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  std::vector<float> logits{1.0f, 1.5f, -1.0f};
  CHECK(s.sample(logits) == 1);
  s.accept(1);  // 1.5 / 2 = 0.75 < 1.0
  CHECK(s.sample(logits) == 0);
}

TEST_CASE("sampler: repetition penalty multiplies negative logits and only looks back n tokens") {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 3.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  std::vector<float> logits{-1.0f, -2.5f, 0.5f};
  s.accept(2);  // 0.5 / 3 ~ 0.167: still the best
  CHECK(s.sample(logits) == 2);
  p.repeat_penalty = 6.0f;
  Sampler t(p);
  t.accept(2);  // 0.5 / 6 ~ 0.083
  t.accept(0);  // -1 * 6 = -6 < -2.5
  CHECK(t.sample(std::vector<float>{-1.0f, -2.5f, 0.5f}) == 2);
  CHECK(t.sample(std::vector<float>{-1.0f, -2.5f, -4.0f}) == 1);
  t.accept(1);
  t.accept(1);  // 0 and 2 are out of the window now
  CHECK(t.sample(std::vector<float>{-1.0f, -0.5f, -4.0f}) == 0);
  t.reset();  // history gone
  CHECK(t.sample(std::vector<float>{-1.0f, -0.5f, -4.0f}) == 1);
}

TEST_CASE("sampler: reset() replays the same draws") {
  std::vector<float> logits{0.0f, 0.2f, 0.4f, 0.1f, -0.3f};
  Sampler s(plain(1.0f, 99));
  std::vector<int32_t> a, b;
  for (int i = 0; i < 100; ++i) a.push_back(s.sample(logits));
  s.reset();
  for (int i = 0; i < 100; ++i) b.push_back(s.sample(logits));
  CHECK(a == b);
}

TEST_CASE("sampler: NaN and infinite logits do not crash the sampling path") {
  SamplerParams p;  // the defaults: top-k, top-p and min-p all on
  p.temperature = 1.0f;
  Sampler s(p);
  for (int i = 0; i < 50; ++i) {
    CHECK(s.sample(std::vector<float>{NAN, NAN, NAN}) == 0);
    CHECK(s.sample(std::vector<float>{-INFINITY, NAN, -INFINITY}) == 0);
    CHECK(s.sample(std::vector<float>{NAN, 1.0f, NAN, -INFINITY}) == 1);
    const int32_t t = s.sample(std::vector<float>{1.0f, INFINITY, 3.0f, INFINITY});
    CHECK((t == 1 || t == 3));
  }
  Sampler g(plain(0.0f));
  CHECK(g.sample(std::vector<float>{1.0f, INFINITY, INFINITY}) == 1);
  CHECK_THROWS_AS(g.sample(std::vector<float>{}), std::invalid_argument);
}

TEST_CASE("sampler: temperature 1 draws follow the softmax distribution") {
  std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s(plain(1.0f, 123));
  std::vector<int> count(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[s.sample(logits)];
  CHECK(std::fabs(count[0] / double(n) - 0.5) < 0.02);
  CHECK(std::fabs(count[1] / double(n) - 0.3) < 0.02);
  CHECK(std::fabs(count[2] / double(n) - 0.2) < 0.02);
}

TEST_CASE("sampler: the filters choose as a full sort of the vocabulary would") {
  // Vocabularies past the first sorted prefix (256) and past its doublings, flat and peaked
  // logits, with and without infinities.
  std::mt19937 gen(5);
  int cases = 0;
  for (size_t n : {1u, 7u, 300u, 5000u})
    for (float sigma : {0.3f, 3.0f})
      for (int32_t k : {0, 1, 40})
        for (float top_p : {1.0f, 0.999f, 0.9f, 0.3f})
          for (float min_p : {0.0f, 0.05f, 0.6f})
            for (float temp : {0.5f, 1.5f}) {
              std::normal_distribution<float> nd(0.0f, sigma);
              std::vector<float> logits(n);
              for (float& x : logits) x = nd(gen);
              if (n > 7 && cases % 5 == 1) logits[n / 3] = -INFINITY, logits[n / 2] = NAN;
              if (n > 7 && cases % 7 == 3) logits[n / 4] = logits[n / 5] = INFINITY;
              SamplerParams p = plain(temp, 1000 + cases);
              p.top_k = k, p.top_p = top_p, p.min_p = min_p;
              Sampler s(p);
              ReferenceSampler ref{p};
              for (int i = 0; i < 8; ++i) {
                const int32_t got = s.sample(logits), want = ref.sample(logits);
                REQUIRE_MESSAGE(got == want, "n=" << n << " sigma=" << sigma << " k=" << k
                                                  << " top_p=" << top_p << " min_p=" << min_p
                                                  << " temp=" << temp << " draw " << i);
              }
              ++cases;
            }
}

TEST_CASE("sampler: out-of-range parameters are rejected") {
  SamplerParams p;
  p.top_p = 0.0f;
  CHECK_THROWS_AS(Sampler{p}, std::invalid_argument);
  p = {};
  p.temperature = -1.0f;
  CHECK_THROWS_AS(Sampler{p}, std::invalid_argument);
  p = {};
  p.min_p = 2.0f;
  CHECK_THROWS_AS(Sampler{p}, std::invalid_argument);
  p = {};
  p.repeat_penalty = 0.0f;
  CHECK_THROWS_AS(Sampler{p}, std::invalid_argument);
  p = {};
  p.top_k = -3;
  CHECK_THROWS_AS(Sampler{p}, std::invalid_argument);
}
