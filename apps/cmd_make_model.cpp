// vkllm make-model: a random-weight llama-shaped GGUF of a named size (graph/synthetic.h), for
// benchmarks and tests without downloads. Progress and a summary go to stderr.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "apps/common.h"
#include "graph/pretokenize.h"
#include "graph/synthetic.h"
#include "quant/formats.h"
#include "quant/gguf.h"

namespace vkllm::app {

namespace {

struct MakeModelOptions {
  std::string preset, type = "F32", out, tokenizer = "llama";
  uint32_t seed = 1;
};

void make_model(const MakeModelOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::optional<SyntheticLlamaConfig> c = synthetic_preset(o.preset);
  if (!c)
    throw std::invalid_argument(
        fmt::format("unknown preset '{}' (valid: {})", o.preset, synthetic_preset_names()));
  c->type = parse_weight_format(o.type, "type").type;
  c->seed = o.seed;
  if (o.tokenizer != "llama" && !pre_tokenizer_from_name(o.tokenizer))
    throw std::invalid_argument(fmt::format("unknown tokenizer '{}' (valid: {})", o.tokenizer,
                                            synthetic_tokenizer_names()));
  c->tokenizer = o.tokenizer;
  {  // Fail before the work if the output cannot be created.
    std::FILE* probe = std::fopen(o.out.c_str(), "wb");
    if (!probe)
      throw std::runtime_error(fmt::format("{}: cannot write: {}", o.out, std::strerror(errno)));
    std::fclose(probe);
  }
  try {
    write_synthetic_llama(o.out, *c, [](const std::string& name, GGMLType t, size_t i, size_t n) {
      const int width = static_cast<int>(std::to_string(n).size());
      std::fprintf(stderr, "[%*zu/%zu] %-32s %s\n", width, i + 1, n, name.c_str(),
                   type_name(t).c_str());
    });
  } catch (const GGUFError& e) {
    throw std::runtime_error(fmt::format("{}: {}", o.out, e.what()));
  }
  std::error_code ec;
  std::fprintf(stderr,
               "vkllm: %s: preset %s (dim %u, %u layers, %u heads, %u KV heads, FFN %u, vocab %u, "
               "context %u), %s weights, seed %u: %s in %.1f s\n",
               o.out.c_str(), o.preset.c_str(), c->n_embd, c->n_layer, c->n_head, c->n_head_kv,
               c->n_ff, c->n_vocab, c->n_ctx, type_name(c->type).c_str(), c->seed,
               human_bytes(std::filesystem::file_size(o.out, ec)).c_str(),
               std::chrono::duration<double>(Clock::now() - t0).count());
}

}  // namespace

void register_make_model(CLI::App& app) {
  auto o = std::make_shared<MakeModelOptions>();
  auto* cmd = app.add_subcommand(
      "make-model",
      "write a random-weight llama-shaped GGUF model with a valid tokenizer (for benchmarks and "
      "tests); matrices whose rows do not fit TYPE's block size are F32, norms are F32");
  cmd->add_option("--preset", o->preset, "model shape: " + synthetic_preset_names())->required();
  cmd->add_option("--type", o->type,
                  "weight type of the matrices (default F32): " + format_names());
  cmd->add_option("-o,--output", o->out, "output GGUF file (overwritten)")->required();
  cmd->add_option("--seed", o->seed, "random seed for the weights (default 1)");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "vocabulary: llama (SentencePiece, the default) or a byte-level BPE one learned "
                  "from a built-in text, with its pre-tokenizer: " +
                      pre_tokenizer_names());
  cmd->callback([o] { make_model(*o); });
}

}  // namespace vkllm::app
