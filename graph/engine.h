// The public engine API apps call: load a GGUF llama model onto a device and evaluate tokens.
// Each batch size gets its graph built, planned and recorded once; later calls replay the recorded
// command buffer with the position in the step buffer and the token ids in the ids buffer.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "graph/model.h"
#include "graph/ops.h"
#include "graph/tokenizer.h"
#include "quant/gguf.h"
#include "runtime/context.h"
#include "runtime/sequence.h"

namespace vkllm {

struct EngineOptions {
  uint32_t n_ctx = 0;       // 0: the model's context length, at most 2048
  uint32_t n_batch = 64;    // tokens per prompt-processing step
  bool all_logits = false;  // eval() returns logits for every token, not just the last
  std::function<void(uint64_t, uint64_t)> load_progress;  // (bytes done, bytes total)
};

struct EngineStats {
  uint32_t graphs_recorded = 0;
  uint64_t steps_replayed = 0;
  uint32_t decode_dispatches = 0;
  uint32_t decode_barriers = 0;
  uint64_t arena_bytes = 0;     // activation memory of the largest graph
  uint64_t unshared_bytes = 0;  // ... what it would take without reuse
};

class Engine {
 public:
  Engine(rt::Context& ctx, const GGUFFile& file, const EngineOptions& options = {});
  ~Engine();

  const LlamaParams& params() const { return params_; }
  uint32_t n_ctx() const { return n_ctx_; }
  uint32_t n_past() const { return n_past_; }
  const EngineStats& stats() const { return stats_; }
  uint64_t weight_bytes() const { return weights_->bytes(); }

  // Evaluates `tokens` at positions n_past().. and appends them to the KV cache. Returns the last
  // token's logits (n_vocab floats), or all tokens' with EngineOptions::all_logits. Throws
  // std::out_of_range if the tokens do not fit in the context, std::invalid_argument for a token
  // id outside the vocabulary.
  std::vector<float> eval(std::span<const int32_t> tokens);
  // Forgets the KV cache contents.
  void reset() { n_past_ = 0; }

  // Drops every recorded step so the next eval records afresh (tests compare replay to this).
  void drop_recordings() { steps_.clear(); }

 private:
  struct Step {
    uint32_t T = 0;
    Graph graph;
    rt::Buffer arena;
    std::unique_ptr<rt::Sequence> seq;
  };
  Step& step_for(uint32_t T);

  rt::Context& ctx_;
  LlamaParams params_;
  EngineOptions options_;
  uint32_t n_ctx_ = 0;
  uint32_t n_past_ = 0;
  std::unique_ptr<LlamaWeights> weights_;
  std::unique_ptr<Ops> ops_;
  rt::Buffer step_buf_, ids_buf_, logits_buf_;
  std::vector<rt::Buffer> k_cache_, v_cache_;
  std::map<uint32_t, std::unique_ptr<Step>> steps_;
  EngineStats stats_;
};

// The tokenizer described by a GGUF file's tokenizer.ggml.* metadata (model "llama" only).
Tokenizer load_tokenizer(const GGUFFile& f);

}  // namespace vkllm
