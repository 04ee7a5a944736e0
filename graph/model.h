// The llama model family (GGUF general.architecture = "llama": Llama 2/3, TinyLlama, Mistral,
// SmolLM2, TinyStories): hyperparameters, weights on the device, and the per-batch graph.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/ops.h"
#include "quant/gguf.h"
#include "runtime/context.h"

namespace vkllm {

// A model file that is a valid GGUF but not a model vkllm can run (architecture, tensor missing,
// wrong shape, unsupported type).
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LlamaParams {
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t head_dim = 0;
  uint32_t n_rot = 0;
  uint32_t n_ctx_train = 0;
  // RoPE: rope.freq_base, linear scaling (rope.scaling.type / rope.scaling.factor) and Llama 3's
  // per-pair frequency factors (tensor rope_freqs.weight).
  RopeFreqs rope;
  float rms_eps = 1e-5f;
  bool tied_output = false;

  uint32_t kv_width() const { return n_head_kv * head_dim; }
  // Reads and checks the hyperparameters; throws ModelError.
  static LlamaParams from_gguf(const GGUFFile& f);
};

// The model's weights, uploaded once.
class LlamaWeights {
 public:
  // Rows row0 .. row0 + rows - 1 of a matrix in a buffer of their own.
  struct Piece {
    rt::Buffer buffer;
    uint32_t row0 = 0, rows = 0;
  };
  struct Entry {
    GGMLType type;
    WeightLayout layout = WeightLayout::AsStored;  // matrices read by matmul only may be repacked
    // One piece, or for the vocabulary-sized matrices (token_embd, output) that one buffer
    // binding cannot hold, consecutive row ranges that each fit one.
    std::vector<Piece> pieces;
    const rt::Buffer& buffer() const { return pieces.front().buffer; }
  };
  // `progress(done_bytes, total_bytes)` is called after each tensor. Matrices that only matmul
  // reads get the layout ops.weight_layout() asks for (repacked at load, the file untouched).
  // `max_buffer_bytes` (0: the device's maxStorageBufferRange) is the largest buffer a piece may
  // take; a smaller one makes tests split small models.
  LlamaWeights(rt::Context& ctx, const Ops& ops, const GGUFFile& f, const LlamaParams& p,
               const std::function<void(uint64_t, uint64_t)>& progress = {},
               uint64_t max_buffer_bytes = 0);
  const Entry& get(const std::string& name) const;
  // Fused matrices: "blk.N.attn_qkv.weight" (q, k, v rows) and "blk.N.ffn_gate_up.weight"
  // (gate/up rows interleaved) replace their parts where the loader could fuse them.
  bool has(const std::string& name) const;
  uint64_t bytes() const { return bytes_; }

 private:
  std::map<std::string, Entry> entries_;
  uint64_t bytes_ = 0;
};

// Buffers the graph reads or writes besides weights and activations.
struct LlamaState {
  const rt::Buffer* step = nullptr;                 // StepParams
  const rt::Buffer* ids = nullptr;                  // uint32 token ids, >= T entries
  const rt::Buffer* logits = nullptr;               // f32 output
  std::vector<const rt::Buffer*> k_cache, v_cache;  // per layer, [n_ctx x kv_width] f32
  uint32_t n_ctx = 0;
  bool kv_half = false;  // the caches hold f16 elements (Ops::RopeKvShape::kv_half)
};

// The graph of one forward step over T tokens. With `all_logits` the output holds T rows of
// logits, else only the last token's. With `ops`, nodes it can fuse further are fused (the
// q/k/v product with RoPE and the KV write: Ops::rope_kv_fusable).
Graph build_llama_graph(const LlamaParams& p, const LlamaWeights& w, const LlamaState& st,
                        uint32_t T, bool all_logits, const Ops* ops = nullptr);

}  // namespace vkllm
