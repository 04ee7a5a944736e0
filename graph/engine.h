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
  bool timestamps = false;  // recorded steps write a GPU timestamp after each node (profile_last)
  // The KV cache in f16 (half the memory and the attention's reads; K and V rounded to f16) or
  // f32 (exact).
  bool kv_half = false;
  // The largest buffer one weight piece may take (0: the device's maxStorageBufferRange); the
  // vocabulary-sized matrices are split by rows to fit (LlamaWeights). Tests set it small.
  uint64_t max_weight_buffer = 0;
};

// One node of the last replay of a step, for profiling (Engine::profile_last).
struct NodeProfile {
  std::string name;    // graph node name: "embed", "blk.3.q", "output", ...
  std::string kind;    // op kind: "matmul", "attention", ... (graph/cost.h)
  std::string kernel;  // the dispatch's label (shader variant, "copy", ...)
  int layer = -1;      // -1 outside the transformer blocks
  double ms = 0.0;     // GPU time
  uint64_t bytes = 0;  // cost model (graph/cost.h)
  double flops = 0.0;
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
  // The kernel settings this engine's kernels use (graph/tuning.h).
  const KernelTuning& tuning() const;

  // Per-node GPU times and costs of the last replay of the T-token step, in graph order. Throws
  // std::logic_error without EngineOptions::timestamps (or device support), if no T-token step
  // has run, or if the timestamps do not line up one-to-one with the nodes.
  std::vector<NodeProfile> profile_last(uint32_t T) const;

  // The decode matrix-vector ceiling: the one-token step's largest matrix product (the output
  // projection in llama models) dispatched alone, best GPU time of `reps` submissions. Its
  // weight streaming rate is what the matvec kernel reaches without per-dispatch overhead; a
  // decode step's weight bytes / step time is measured against it (vkllm profile). Needs
  // timestamps (as profile_last).
  struct MatvecCeiling {
    std::string node;  // graph node, e.g. "output"
    std::string kernel;
    uint32_t M = 0, K = 0;
    uint64_t bytes = 0;  // cost model: weights + x + y
    double flops = 0;
    double ms = 0;
  };
  MatvecCeiling matvec_ceiling(int reps = 5);

  // Evaluates `tokens` at positions n_past().. and appends them to the KV cache. Returns the last
  // token's logits (n_vocab floats), or all tokens' with EngineOptions::all_logits. Throws
  // std::out_of_range if the tokens do not fit in the context, std::invalid_argument for a token
  // id outside the vocabulary.
  std::vector<float> eval(std::span<const int32_t> tokens);
  // Forgets the KV cache contents.
  void reset() { n_past_ = 0; }

  // Drops every recorded step so the next eval records afresh (tests compare replay to this).
  void drop_recordings() { steps_.clear(); }
  // Turns per-node timestamps on or off for steps recorded from now on (drops the recordings).
  // Timestamps cost a little per dispatch on some drivers (lavapipe: tens of us), so untimed
  // replays measure what generation really takes.
  void set_timestamps(bool on) {
    options_.timestamps = on;
    drop_recordings();
  }

 private:
  struct Step {
    uint32_t T = 0;
    Graph graph;
    rt::Buffer arena;
    std::unique_ptr<rt::Sequence> seq;
    uint32_t last_pos0 = 0;  // position of the first token at the last replay
    bool replayed = false;
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
