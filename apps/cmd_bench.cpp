// vkllm bench: prompt processing (one batch of p tokens) and generation (n tokens after it) in
// tokens/s, medians over r runs after a warm-up, plus load time and cold time to first token.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <random>

#include "apps/common.h"
#include "graph/engine.h"
#include "graph/tuning.h"
#include "quant/gguf.h"

namespace vkllm::app {

namespace {

struct BenchOptions {
  std::string model;
  uint32_t n_prompt = 128;
  uint32_t n_gen = 64;
  uint32_t reps = 3;
  bool json = false;
  DeviceOptions dev;
  CacheOptions cache;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:.3f}", i ? "," : "", v[i]);
  return s + "]";
}

void bench(BenchOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  if (o.reps == 0) throw std::invalid_argument("-r must be >= 1");
  if (o.n_prompt == 0 && o.n_gen == 0)
    throw std::invalid_argument("nothing to measure (-p 0 -n 0)");
  const bool kv_f16 = kv_half(o.cache);

  const auto t_start = Clock::now();
  GGUFFile file = open_model_file(o.model);
  LlamaParams params;
  try {
    params = LlamaParams::from_gguf(file);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", o.model, e.what()));
  }
  rt::Context ctx(context_options(o.dev, /*notices=*/!o.json, file));
  EngineOptions eo;
  eo.kv_half = kv_f16;
  eo.n_ctx = std::max<uint32_t>(o.n_prompt + o.n_gen + 1, 16);
  eo.n_batch = std::max<uint32_t>(o.n_prompt, 1);
  Engine engine(ctx, file, eo);
  const double load_ms = ms_since(t_start);
  const uint64_t load_rss = peak_rss_bytes();

  // Prompt: seeded random ids of ordinary tokens after BOS.
  std::mt19937 rng(1234);
  std::vector<int32_t> prompt;
  for (uint32_t i = 0; i < o.n_prompt; ++i)
    prompt.push_back(i == 0 ? 1 : 3 + static_cast<int32_t>(rng() % (params.n_vocab - 3)));
  auto greedy = [](const std::vector<float>& l) {
    return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
  };
  // One pass: returns {prompt ms, generation ms}. The first one is the cold start.
  auto pass = [&] {
    engine.reset();
    int32_t tok = 1;
    double pp_ms = 0;
    std::vector<float> logits;
    if (!prompt.empty()) {
      const auto t = Clock::now();
      logits = engine.eval(prompt);
      pp_ms = ms_since(t);
      tok = greedy(logits);
    }
    const auto t = Clock::now();
    for (uint32_t i = 0; i < o.n_gen; ++i)
      tok = greedy(engine.eval(std::span<const int32_t>(&tok, 1)));
    return std::pair{pp_ms, ms_since(t)};
  };
  const auto t_cold = Clock::now();
  const auto cold = pass();
  const double ttft_ms = load_ms + (o.n_prompt ? cold.first : ms_since(t_cold));

  std::vector<double> pp, tg;
  for (uint32_t r = 0; r < o.reps; ++r) {
    auto [p_ms, g_ms] = pass();
    if (o.n_prompt) pp.push_back(o.n_prompt * 1000.0 / p_ms);
    if (o.n_gen) tg.push_back(o.n_gen * 1000.0 / g_ms);
  }

  const std::string device = ctx.info().name;
  if (o.json) {
    auto line = [&](const std::string& test, const std::vector<double>& runs) {
      fmt::print(
          "{{\"test\":\"{}\",\"model\":\"{}\",\"device\":\"{}\",\"tokens_per_second\":{:.3f},"
          "\"runs\":{}}}\n",
          test, json_escape(o.model), json_escape(device), median(runs), json_list(runs));
    };
    if (o.n_prompt) line(fmt::format("pp{}", o.n_prompt), pp);
    if (o.n_gen) line(fmt::format("tg{}", o.n_gen), tg);
    fmt::print(
        "{{\"test\":\"load\",\"model\":\"{}\",\"device\":\"{}\",\"ms\":{:.3f},"
        "\"peak_rss_bytes\":{},\"file_bytes\":{},\"kernels\":\"{}\"}}\n",
        json_escape(o.model), json_escape(device), load_ms, load_rss, file.file_size(),
        json_escape(tuning_summary(engine.tuning())));
    fmt::print("{{\"test\":\"ttft_cold\",\"model\":\"{}\",\"device\":\"{}\",\"ms\":{:.3f}}}\n",
               json_escape(o.model), json_escape(device), ttft_ms);
    return;
  }
  fmt::print("model: {} ({} layers, dim {}, vocab {}; {:.1f} MiB of weights)\n", o.model,
             params.n_layer, params.n_embd, params.n_vocab, engine.weight_bytes() / 1048576.0);
  fmt::print("device: {}\nkernels: {}\n\n", device, tuning_summary(engine.tuning()));
  fmt::print("| test | tokens/s (median of {}) | runs |\n|---|---:|---|\n", o.reps);
  auto row = [&](const std::string& test, const std::vector<double>& runs) {
    std::string r;
    for (size_t i = 0; i < runs.size(); ++i) r += fmt::format("{}{:.1f}", i ? ", " : "", runs[i]);
    fmt::print("| {} | {:.1f} | {} |\n", test, median(runs), r);
  };
  if (o.n_prompt) row(fmt::format("pp{}", o.n_prompt), pp);
  if (o.n_gen) row(fmt::format("tg{}", o.n_gen), tg);
  fmt::print(
      "\nload {:.0f} ms (peak memory after load {}, file {}); cold time to first token {:.0f} ms "
      "(load + first prompt pass)\n",
      load_ms, human_bytes(load_rss), human_bytes(file.file_size()), ttft_ms);
  if (o.n_gen)
    fmt::print("decode step: {} dispatches, {} barriers, one recorded command buffer replayed\n",
               engine.stats().decode_dispatches, engine.stats().decode_barriers);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench",
      "measure prompt processing (one batch of -p tokens) and generation (-n tokens) in tokens/s, "
      "medians over -r runs after a warm-up, plus load time and cold time to first token");
  cmd->add_option("-m,--model", o->model, "GGUF model file (default: the embedded model)");
  cmd->add_option("-p,--n-prompt", o->n_prompt,
                  "prompt tokens, processed as one batch (default 128)");
  cmd->add_option("-n,--n-gen", o->n_gen, "tokens to generate after the prompt (default 64)");
  cmd->add_option("-r,--repetitions", o->reps, "measured runs after the warm-up (default 3)");
  cmd->add_flag("--json", o->json, "one JSON object per test on stdout instead of a table");
  add_cache_options(*cmd, o->cache);
  add_device_options(*cmd, o->dev);
  cmd->callback([o] { bench(*o); });
}

}  // namespace vkllm::app
