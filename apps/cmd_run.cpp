// vkllm run: generate text from a prompt. stdout carries exactly the prompt followed by the
// generated text, streamed; notices, progress and timings go to stderr.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>

#include "apps/common.h"
#include "graph/engine.h"
#include "graph/sampler.h"
#include "graph/tokenizer.h"
#include "quant/gguf.h"

namespace vkllm::app {

namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  int n_predict = 128;
  uint32_t n_ctx = 0;
  uint32_t n_batch = 64;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  uint64_t seed = 0;
  bool seed_set = false;
  bool quiet = false;
  bool no_special = false;
  DeviceOptions dev;
  CacheOptions cache;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void run(RunOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  if (o.n_predict < 0) throw std::invalid_argument("-n must be >= 0");
  if (o.n_batch == 0) throw std::invalid_argument("--batch must be >= 1");
  const auto t_load = Clock::now();
  GGUFFile file = open_model_file(o.model);
  std::unique_ptr<Tokenizer> tok;
  LlamaParams params;
  try {
    params = LlamaParams::from_gguf(file);
    tok = std::make_unique<Tokenizer>(load_tokenizer(file));
  } catch (const std::exception& e) {  // GGUFError and ModelError: a problem with the file
    throw std::runtime_error(fmt::format("{}: {}", o.model, e.what()));
  }
  if (static_cast<uint32_t>(tok->n_vocab()) != params.n_vocab)
    throw std::runtime_error(fmt::format("{}: tokenizer has {} tokens but the model {}", o.model,
                                         tok->n_vocab(), params.n_vocab));

  SamplerParams sp;
  sp.temperature = o.temp;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  sp.repeat_penalty = o.repeat_penalty;
  sp.repeat_last_n = o.repeat_last_n;
  sp.seed = o.seed_set ? o.seed : static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  Sampler sampler(sp);

  // BOS where the model's tokenizer adds one, and always before an empty prompt (the
  // continuation from the start of a text).
  std::vector<int32_t> prompt_ids = tok->encode(o.prompt, tok->vocab().add_bos, !o.no_special);
  if (prompt_ids.empty()) prompt_ids.push_back(tok->bos());
  const uint32_t n_ctx = o.n_ctx ? o.n_ctx : std::min<uint32_t>(params.n_ctx_train, 2048);
  if (prompt_ids.size() > n_ctx)
    throw std::runtime_error(
        fmt::format("the prompt is {} tokens, longer than the context of {} (use -c to enlarge it)",
                    prompt_ids.size(), n_ctx));

  EngineOptions eo;
  eo.kv_half = kv_half(o.cache);
  rt::Context ctx(context_options(o.dev, !o.quiet, file));
  eo.n_ctx = n_ctx;
  eo.n_batch = o.n_batch;
  const bool tty = isatty(STDERR_FILENO);
  if (!o.quiet && tty) {
    eo.load_progress = [](uint64_t done, uint64_t total) {
      if (total >= (64ull << 20))
        std::fprintf(stderr, "\rvkllm: loading weights %3d%%", int(done * 100 / total));
      if (done == total && total >= (64ull << 20)) std::fprintf(stderr, "\n");
    };
  }
  Engine engine(ctx, file, eo);
  const double load_ms = ms_since(t_load);
  if (!o.quiet)
    std::fprintf(stderr, "vkllm: %s on %s: %u layers, dim %u, vocab %u, context %u (%.0f ms)\n",
                 o.model.c_str(), ctx.info().name.c_str(), params.n_layer, params.n_embd,
                 params.n_vocab, n_ctx, load_ms);

  if (!o.quiet && params.n_ctx_train > 0 && n_ctx > params.n_ctx_train)
    std::fprintf(
        stderr,
        "vkllm: notice: a context of %u tokens is longer than the %u the model was trained "
        "on; text past that may degrade\n",
        n_ctx, params.n_ctx_train);

  // The prompt text goes out as given; generated pieces follow as they complete.
  std::fwrite(o.prompt.data(), 1, o.prompt.size(), stdout);
  std::fflush(stdout);
  Detokenizer detok(*tok);
  for (int32_t id : prompt_ids) (void)detok.push(id);  // sets the leading-space state only
  (void)detok.flush();

  const auto t_prompt = Clock::now();
  std::vector<float> logits = engine.eval(prompt_ids);
  const double prompt_ms = ms_since(t_prompt);
  for (int32_t id : prompt_ids) sampler.accept(id);

  const auto t_gen = Clock::now();
  int generated = 0;
  std::string stop_reason = "token limit";
  while (generated < o.n_predict) {
    const int32_t next = sampler.sample(logits);
    sampler.accept(next);
    if (tok->is_eog(next) || next == tok->bos()) {
      stop_reason = next == tok->bos()   ? "start of a new text"
                    : next == tok->eos() ? "end of text"
                                         : "end of turn";
      break;
    }
    ++generated;
    const std::string text = detok.push(next);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (generated == o.n_predict) break;
    if (engine.n_past() >= engine.n_ctx()) {
      stop_reason = "context full";
      std::fprintf(stderr, "\nvkllm: stopped: the context of %u tokens is full (use -c)\n",
                   engine.n_ctx());
      break;
    }
    logits = engine.eval(std::span<const int32_t>(&next, 1));
  }
  const std::string rest = detok.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const double gen_ms = ms_since(t_gen);
  if (!o.quiet) {
    std::fprintf(stderr,
                 "vkllm: prompt %zu tokens in %.1f ms (%.1f tok/s); generated %d tokens in %.1f ms "
                 "(%.1f tok/s); stop: %s\n",
                 prompt_ids.size(), prompt_ms,
                 prompt_ids.size() * 1000.0 / std::max(prompt_ms, 1e-3), generated, gen_ms,
                 generated * 1000.0 / std::max(gen_ms, 1e-3), stop_reason.c_str());
  }
  if (ctx.validation() && ctx.validation_messages() > 0)
    throw std::runtime_error(
        fmt::format("the validation layer reported {} message(s)", ctx.validation_messages()));
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "run",
      "generate text: prints the prompt, then the continuation as it is produced; stops after -n "
      "tokens, at end of text (EOS, an end-of-turn token, or BOS starting a new text) or when "
      "the context is full");
  cmd->add_option("-m,--model", o->model,
                  "GGUF model file (default: the embedded stories260K model)");
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: empty, i.e. start of text)");
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate (default 128)");
  cmd->add_option("-c,--ctx-size", o->n_ctx,
                  "context length in tokens (default: the model's, at most 2048)");
  cmd->add_option("-b,--batch", o->n_batch, "prompt tokens per forward step (default 64)");
  cmd->add_option("--temp", o->temp, "temperature; 0 = greedy (default 0.8)");
  cmd->add_option("--top-k", o->top_k, "keep the k most likely tokens; 0 = all (default 40)");
  cmd->add_option("--top-p", o->top_p, "nucleus sampling threshold; 1 = off (default 0.95)");
  cmd->add_option("--min-p", o->min_p,
                  "drop tokens below min-p times the best one's probability; 0 = off "
                  "(default 0.05)");
  cmd->add_option("--repeat-penalty", o->repeat_penalty,
                  "penalty for tokens among the last --repeat-last-n; 1 = off (default 1)");
  cmd->add_option("--repeat-last-n", o->repeat_last_n, "window of the repeat penalty (default 64)");
  cmd->add_option_function<std::string>(
      "-s,--seed",
      [o](const std::string& s) {
        // Parsed here: CLI11's unsigned conversion (strtoull) would wrap "-3" around.
        const char* end = s.data() + s.size();
        const auto [ptr, ec] = std::from_chars(s.data(), end, o->seed);
        if (s.empty() || ec != std::errc() || ptr != end)
          throw CLI::ValidationError("--seed", "must be a whole number from 0 to " +
                                                   std::to_string(UINT64_MAX) + ", got '" + s +
                                                   "'");
        o->seed_set = true;
      },
      "random seed for sampling, 0 .. 2^64 - 1 (default: from the clock)");
  cmd->add_flag("-q,--quiet", o->quiet, "no notices, model summary or timings on stderr");
  cmd->add_flag("--no-special", o->no_special,
                "take the text of control tokens in the prompt (\"<s>\", \"<|eot_id|>\") as "
                "plain text instead of those tokens");
  add_cache_options(*cmd, o->cache);
  add_device_options(*cmd, o->dev);
  cmd->callback([o] { run(*o); });
}

}  // namespace vkllm::app
