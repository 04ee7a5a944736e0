#include "support/cpu_llama.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "quant/formats.h"
#include "quant/half.h"
#include "quant/types.h"

namespace vkllm::test {

namespace {

// The tensor `name` as f32, checked to have exactly the shape `ne` (ne[0] contiguous).
std::vector<float> load(const GGUFFile& f, const std::string& name,
                        std::initializer_list<uint64_t> ne) {
  const GGUFTensorInfo* t = f.find_tensor(name);
  if (!t) throw std::runtime_error(fmt::format("CpuLlama: missing tensor {}", name));
  uint64_t n = 1;
  size_t d = 0;
  for (uint64_t want : ne) {
    uint64_t got = d < t->ne.size() ? t->ne[d] : 1;
    if (got != want)
      throw std::runtime_error(
          fmt::format("CpuLlama: {} has ne[{}] = {}, expected {}", name, d, got, want));
    n *= want;
    ++d;
  }
  for (; d < t->ne.size(); ++d)
    if (t->ne[d] != 1) throw std::runtime_error(fmt::format("CpuLlama: {} has extra dims", name));

  std::span<const uint8_t> bytes = f.tensor_data(*t);
  // Every weight format (F32, F16, BF16, Q8_0, Q4_0, K-quants, ...) through its reference
  // dequantizer.
  if (!weight_format(t->type))
    throw std::runtime_error(
        fmt::format("CpuLlama: {} has unsupported type {}", name, type_name(t->type)));
  try {
    return dequantize_all(t->type, bytes, static_cast<int64_t>(n));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(fmt::format("CpuLlama: {}: {}", name, e.what()));
  }
}

// y[m] = sum_k W[m, k] x[k] for W with ne = {K, M}.
void matvec(const std::vector<float>& w, const float* x, float* y, uint32_t k, uint32_t m) {
  for (uint32_t r = 0; r < m; ++r) {
    const float* row = w.data() + size_t(r) * k;
    double acc = 0.0;
    for (uint32_t i = 0; i < k; ++i) acc += double(row[i]) * double(x[i]);
    y[r] = float(acc);
  }
}

// y = x / sqrt(mean(x^2) + eps) * w
void rmsnorm(const float* x, const std::vector<float>& w, float* y, uint32_t n, float eps) {
  double ss = 0.0;
  for (uint32_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const double scale = 1.0 / std::sqrt(ss / n + double(eps));
  for (uint32_t i = 0; i < n; ++i) y[i] = float(double(x[i]) * scale * double(w[i]));
}

}  // namespace

CpuLlama::CpuLlama(const GGUFFile& f, bool kv_half) : kv_half_(kv_half) {
  n_embd_ = f.get_u32("llama.embedding_length");
  n_layer_ = f.get_u32("llama.block_count");
  n_ff_ = f.get_u32("llama.feed_forward_length");
  n_head_ = f.get_u32("llama.attention.head_count");
  n_head_kv_ = f.opt_u32("llama.attention.head_count_kv").value_or(n_head_);
  n_ctx_ = f.get_u32("llama.context_length");
  if (n_head_ == 0 || n_head_kv_ == 0 || n_embd_ % n_head_ != 0 || n_head_ % n_head_kv_ != 0)
    throw std::runtime_error("CpuLlama: inconsistent head counts");
  head_dim_ = n_embd_ / n_head_;
  n_rot_ = f.opt_u32("llama.rope.dimension_count").value_or(head_dim_);
  if (n_rot_ > head_dim_ || n_rot_ % 2 != 0) throw std::runtime_error("CpuLlama: bad n_rot");
  rope_base_ = f.opt_f32("llama.rope.freq_base").value_or(10000.0f);
  eps_ = f.opt_f32("llama.attention.layer_norm_rms_epsilon").value_or(1e-5f);
  const std::string scaling = f.opt_string("llama.rope.scaling.type").value_or("linear");
  if (scaling != "linear" && scaling != "none")
    throw std::runtime_error("CpuLlama: unsupported RoPE scaling " + scaling);
  if (scaling == "linear") {
    const float factor = f.opt_f32("llama.rope.scaling.factor").value_or(0.0f);
    if (factor > 0.0f) rope_linear_ = factor;
  }
  if (f.find_tensor("rope_freqs.weight"))
    rope_factors_ = load(f, "rope_freqs.weight", {n_rot_ / 2});

  const GGUFTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->ne.size() < 2) throw std::runtime_error("CpuLlama: no token_embd.weight");
  n_vocab_ = uint32_t(embd->ne[1]);

  const uint32_t kv_dim = n_head_kv_ * head_dim_;
  tok_embd_ = load(f, "token_embd.weight", {n_embd_, n_vocab_});
  output_norm_ = load(f, "output_norm.weight", {n_embd_});
  output_ =
      f.find_tensor("output.weight") ? load(f, "output.weight", {n_embd_, n_vocab_}) : tok_embd_;
  layers_.resize(n_layer_);
  for (uint32_t l = 0; l < n_layer_; ++l) {
    Layer& L = layers_[l];
    auto name = [&](const char* what) { return fmt::format("blk.{}.{}.weight", l, what); };
    L.attn_norm = load(f, name("attn_norm"), {n_embd_});
    L.wq = load(f, name("attn_q"), {n_embd_, n_embd_});
    L.wk = load(f, name("attn_k"), {n_embd_, kv_dim});
    L.wv = load(f, name("attn_v"), {n_embd_, kv_dim});
    L.wo = load(f, name("attn_output"), {n_embd_, n_embd_});
    L.ffn_norm = load(f, name("ffn_norm"), {n_embd_});
    L.w_gate = load(f, name("ffn_gate"), {n_embd_, n_ff_});
    L.w_up = load(f, name("ffn_up"), {n_embd_, n_ff_});
    L.w_down = load(f, name("ffn_down"), {n_ff_, n_embd_});
  }
}

void CpuLlama::reset() {
  n_past_ = 0;
  for (Layer& L : layers_) {
    L.k_cache.clear();
    L.v_cache.clear();
  }
}

std::vector<float> CpuLlama::forward(std::span<const int32_t> tokens, bool all_logits) {
  if (tokens.empty()) return {};
  if (n_past_ + tokens.size() > n_ctx_)
    throw std::runtime_error(fmt::format("CpuLlama: {} + {} tokens exceed the context of {}",
                                         n_past_, tokens.size(), n_ctx_));
  std::vector<float> logits((all_logits ? tokens.size() : 1) * size_t(n_vocab_));
  for (size_t t = 0; t < tokens.size(); ++t) {
    const bool keep = all_logits || t + 1 == tokens.size();
    float* out = keep ? logits.data() + (all_logits ? t : 0) * size_t(n_vocab_) : nullptr;
    forward_token(tokens[t], n_past_, out);
    ++n_past_;
  }
  return logits;
}

// Rotates adjacent pairs (x[2i], x[2i+1]) of each head by pos / linear * base^(-2i / n_rot) /
// factor[i], i < n_rot / 2.
void CpuLlama::rope(float* x, uint32_t n_heads, uint32_t pos) const {
  for (uint32_t h = 0; h < n_heads; ++h) {
    float* v = x + size_t(h) * head_dim_;
    for (uint32_t i = 0; i < n_rot_ / 2; ++i) {
      const double factor = rope_factors_.empty() ? 1.0 : double(rope_factors_[i]);
      const double theta = double(pos) / rope_linear_ *
                           std::pow(double(rope_base_), -2.0 * i / double(n_rot_)) / factor;
      const double c = std::cos(theta), s = std::sin(theta);
      const double a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = float(a * c - b * s);
      v[2 * i + 1] = float(a * s + b * c);
    }
  }
}

void CpuLlama::forward_token(int32_t token, uint32_t pos, float* logits) {
  if (token < 0 || uint32_t(token) >= n_vocab_)
    throw std::runtime_error(fmt::format("CpuLlama: token {} out of range", token));
  const uint32_t kv_dim = n_head_kv_ * head_dim_;
  const uint32_t group = n_head_ / n_head_kv_;
  const double scale = 1.0 / std::sqrt(double(head_dim_));

  std::vector<float> x(tok_embd_.begin() + size_t(token) * n_embd_,
                       tok_embd_.begin() + size_t(token + 1) * n_embd_);
  std::vector<float> h(n_embd_), q(n_embd_), k(kv_dim), v(kv_dim), attn(n_embd_), o(n_embd_);
  std::vector<float> gate(n_ff_), up(n_ff_);
  std::vector<double> scores(pos + 1);

  for (Layer& L : layers_) {
    // Attention.
    rmsnorm(x.data(), L.attn_norm, h.data(), n_embd_, eps_);
    matvec(L.wq, h.data(), q.data(), n_embd_, n_embd_);
    matvec(L.wk, h.data(), k.data(), n_embd_, kv_dim);
    matvec(L.wv, h.data(), v.data(), n_embd_, kv_dim);
    rope(q.data(), n_head_, pos);
    rope(k.data(), n_head_kv_, pos);
    if (kv_half_) {
      for (float& e : k) e = fp16_to_fp32(fp32_to_fp16(e));
      for (float& e : v) e = fp16_to_fp32(fp32_to_fp16(e));
    }
    L.k_cache.resize(size_t(pos) * kv_dim);
    L.v_cache.resize(size_t(pos) * kv_dim);
    L.k_cache.insert(L.k_cache.end(), k.begin(), k.end());
    L.v_cache.insert(L.v_cache.end(), v.begin(), v.end());

    for (uint32_t hd = 0; hd < n_head_; ++hd) {
      const float* qh = q.data() + size_t(hd) * head_dim_;
      const size_t kv_off = size_t(hd / group) * head_dim_;
      double max_s = -INFINITY;
      for (uint32_t p = 0; p <= pos; ++p) {
        const float* kp = L.k_cache.data() + size_t(p) * kv_dim + kv_off;
        double dot = 0.0;
        for (uint32_t i = 0; i < head_dim_; ++i) dot += double(qh[i]) * double(kp[i]);
        scores[p] = dot * scale;
        max_s = std::max(max_s, scores[p]);
      }
      double sum = 0.0;
      for (uint32_t p = 0; p <= pos; ++p) sum += (scores[p] = std::exp(scores[p] - max_s));
      float* out = attn.data() + size_t(hd) * head_dim_;
      for (uint32_t i = 0; i < head_dim_; ++i) {
        double acc = 0.0;
        for (uint32_t p = 0; p <= pos; ++p)
          acc += scores[p] * double(L.v_cache[size_t(p) * kv_dim + kv_off + i]);
        out[i] = float(acc / sum);
      }
    }
    matvec(L.wo, attn.data(), o.data(), n_embd_, n_embd_);
    for (uint32_t i = 0; i < n_embd_; ++i) x[i] += o[i];

    // Feed-forward: Wdown (silu(Wgate h) * (Wup h)).
    rmsnorm(x.data(), L.ffn_norm, h.data(), n_embd_, eps_);
    matvec(L.w_gate, h.data(), gate.data(), n_embd_, n_ff_);
    matvec(L.w_up, h.data(), up.data(), n_embd_, n_ff_);
    for (uint32_t i = 0; i < n_ff_; ++i) {
      const double g = gate[i];
      gate[i] = float(g / (1.0 + std::exp(-g)) * double(up[i]));
    }
    matvec(L.w_down, gate.data(), o.data(), n_ff_, n_embd_);
    for (uint32_t i = 0; i < n_embd_; ++i) x[i] += o[i];
  }

  if (!logits) return;
  rmsnorm(x.data(), output_norm_, h.data(), n_embd_, eps_);
  matvec(output_, h.data(), logits, n_embd_, n_vocab_);
}

}  // namespace vkllm::test
