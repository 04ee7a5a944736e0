// A plain scalar CPU implementation of the GGUF `llama` forward pass, written for clarity rather
// than speed (dot products accumulate in double). Tests use it as the reference the Vulkan forward
// pass is checked against.
//
// Weights follow GGUF/ggml: a matrix with ne = {K, M} has M rows of K contiguous elements and
// computes y[m] = sum_k W[m, k] * x[k]. Every quant/formats.h weight format is accepted and
// dequantized to f32 at load. RoPE uses the GGUF llama layout: adjacent pairs (x[2i], x[2i+1])
// within each head, with linear RoPE scaling and Llama 3's frequency factors (rope_freqs.weight).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "quant/gguf.h"

namespace vkllm::test {

class CpuLlama {
 public:
  // Reads the llama.* hyperparameters and every weight from `file` (which need not outlive this).
  // With kv_half the cached keys and values are rounded to f16 (as an f16 KV cache holds them).
  explicit CpuLlama(const GGUFFile& file, bool kv_half = false);

  // Runs `tokens` at positions n_past() .. n_past() + T - 1, appending their keys and values to the
  // cache. Returns the logits of the last token (n_vocab floats) or, with `all_logits`, of every
  // token (T * n_vocab floats, token-major). Throws std::runtime_error past n_ctx or on a token id
  // out of range.
  std::vector<float> forward(std::span<const int32_t> tokens, bool all_logits = false);

  // Empties the KV cache.
  void reset();
  uint32_t n_past() const { return n_past_; }

  uint32_t n_embd() const { return n_embd_; }
  uint32_t n_layer() const { return n_layer_; }
  uint32_t n_head() const { return n_head_; }
  uint32_t n_head_kv() const { return n_head_kv_; }
  uint32_t head_dim() const { return head_dim_; }
  uint32_t n_ff() const { return n_ff_; }
  uint32_t n_vocab() const { return n_vocab_; }
  uint32_t n_ctx() const { return n_ctx_; }
  uint32_t n_rot() const { return n_rot_; }
  float rope_base() const { return rope_base_; }
  float eps() const { return eps_; }

 private:
  struct Layer {
    std::vector<float> attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
    std::vector<float> k_cache, v_cache;  // [n_ctx x n_head_kv * head_dim]
  };

  void forward_token(int32_t token, uint32_t pos, float* logits);
  void rope(float* x, uint32_t n_heads, uint32_t pos) const;

  uint32_t n_embd_ = 0, n_layer_ = 0, n_head_ = 0, n_head_kv_ = 0, head_dim_ = 0, n_ff_ = 0;
  uint32_t n_vocab_ = 0, n_ctx_ = 0, n_rot_ = 0;
  float rope_base_ = 10000.0f, eps_ = 1e-5f;
  double rope_linear_ = 1.0;         // positions are divided by it (rope.scaling.factor)
  std::vector<float> rope_factors_;  // rope_freqs.weight (empty: all 1)
  uint32_t n_past_ = 0;
  bool kv_half_ = false;

  std::vector<float> tok_embd_, output_norm_, output_;
  std::vector<Layer> layers_;
};

}  // namespace vkllm::test
