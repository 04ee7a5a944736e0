#include "support/random_model.h"

#include "graph/synthetic.h"

namespace vkllm::test {

void write_random_llama(const std::string& path, const RandomLlamaConfig& c) {
  SyntheticLlamaConfig s;
  s.n_embd = c.n_embd, s.n_layer = c.n_layer, s.n_head = c.n_head, s.n_head_kv = c.n_head_kv;
  s.n_ff = c.n_ff, s.n_vocab = c.n_vocab, s.n_ctx = c.n_ctx, s.n_rot = c.n_rot;
  s.rope_base = c.rope_base, s.eps = c.eps, s.tied_output = c.tied_output;
  s.type = c.type, s.seed = c.seed, s.edit = c.edit, s.tokenizer = c.tokenizer;
  write_synthetic_llama(path, s);
}

}  // namespace vkllm::test
