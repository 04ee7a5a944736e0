// Writes small random GGUF `llama` models for tests: a valid GGUF v3 file with every llama.* key,
// a SentencePiece-style tokenizer and seeded random weights scaled so activations stay sane.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "quant/gguf.h"
#include "quant/types.h"

namespace vkllm::test {

struct RandomLlamaConfig {
  uint32_t n_embd = 48, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 67, n_vocab = 300,
           n_ctx = 128;
  uint32_t n_rot = 0;  // 0: head_dim
  float rope_base = 10000;
  float eps = 1e-5f;
  bool tied_output = false;  // no output.weight: the output reuses token_embd.weight
  // Any quant/formats.h weight format for the matrices (rows that do not fit its block size stay
  // F32); norms are always F32.
  GGMLType type = GGMLType::F32;
  uint32_t seed = 1;
  std::string tokenizer = "llama";        // SyntheticLlamaConfig::tokenizer
  std::function<void(GGUFWriter&)> edit;  // SyntheticLlamaConfig::edit
};

// Writes the model to `path` (graph/synthetic.h's write_synthetic_llama). The vocabulary is "<unk>"
// (0), "<s>" (1, BOS), "</s>" (2, EOS), the 256 byte tokens "<0x00>".."<0xFF>" (type 6), then
// distinct pieces ("▁the", "▁a", "e", ...) with decreasing scores up to n_vocab, which must be at
// least 260. Throws std::invalid_argument on an inconsistent config.
void write_random_llama(const std::string& path, const RandomLlamaConfig& config);

}  // namespace vkllm::test
