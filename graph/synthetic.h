// Synthetic llama models: valid GGUF `llama` files with a SentencePiece-style vocabulary and seeded
// random weights scaled so activations stay sane. `vkllm make-model` and the tests write them.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "quant/gguf.h"
#include "quant/types.h"

namespace vkllm {

struct SyntheticLlamaConfig {
  uint32_t n_embd = 48, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 67, n_vocab = 300,
           n_ctx = 128;
  uint32_t n_rot = 0;  // 0: head_dim
  float rope_base = 10000;
  float eps = 1e-5f;
  bool tied_output = false;  // no output.weight: the output reuses token_embd.weight
  // Any quant/formats.h weight format for the matrices (token_embd and output included); a matrix
  // whose row length is not a multiple of the format's block size is written as F32. Norms are F32.
  GGMLType type = GGMLType::F32;
  uint32_t seed = 1;
  std::string name;  // general.name; empty: "random-llama-<seed>"
  // "llama": the SentencePiece vocabulary below; a pre-tokenizer name ("gpt-2", "llama-bpe",
  // "smollm"): a byte-level BPE vocabulary learned from a built-in text (up to n_vocab - 258
  // merges), then <|begin_of_text|> (BOS), <|end_of_text|> (EOS) and reserved control tokens.
  std::string tokenizer = "llama";
  // Applied to the file last (tests: extra keys, or tensors added with their data).
  std::function<void(GGUFWriter&)> edit;
};

// Called before each tensor is generated: its name, the type it is written in, 0-based index and
// the number of tensors.
using SyntheticProgress =
    std::function<void(const std::string& name, GGMLType type, size_t index, size_t count)>;

// Writes the model to `path`. The vocabulary is "<unk>" (0), "<s>" (1, BOS), "</s>" (2, EOS), the
// 256 byte tokens "<0x00>".."<0xFF>" (type 6), then distinct pieces ("▁the", "▁a", "e", ...) with
// decreasing scores up to n_vocab, which must be at least 260. Weights are generated and encoded a
// few rows at a time and streamed to the file: memory holds one encoded tensor. Throws
// std::invalid_argument on an inconsistent config, GGUFError on I/O errors.
void write_synthetic_llama(const std::string& path, const SyntheticLlamaConfig& config,
                           const SyntheticProgress& progress = {});

// Named shapes for `vkllm make-model`: "260K" (stories260K-like: dim 64, 5 layers, 8 heads, 4 KV
// heads, FFN 172, vocab 512, context 512), "15M", "110M" (llama2.c TinyStories shapes, vocab
// 32000) and "1B" (TinyLlama-1.1B shape: dim 2048, 22 layers, 32 heads, 4 KV heads, FFN 5632).
// nullopt for an unknown name.
std::optional<SyntheticLlamaConfig> synthetic_preset(std::string_view name);
// "260K, 15M, 110M, 1B".
std::string synthetic_preset_names();
// "llama, gpt-2, llama-bpe, smollm": SyntheticLlamaConfig::tokenizer's values.
std::string synthetic_tokenizer_names();

// llama.cpp's general.file_type (enum llama_ftype) for a model whose matrices are mostly `type`;
// nullopt where llama.cpp has no such value.
std::optional<uint32_t> llama_file_type(GGMLType type);

}  // namespace vkllm
