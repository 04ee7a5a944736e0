#include "support/random_model.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "quant/gguf.h"
#include "quant/half.h"

namespace vkllm::test {

namespace {

// Portable draws: std::mt19937's output is fixed by the standard, the distributions are not.
class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  // Uniform in [-1, 1).
  float uniform() { return float(gen_() >> 8) * (2.0f / 16777216.0f) - 1.0f; }
  // Roughly N(0, 1): the sum of three uniforms has variance 1.
  float normalish() { return uniform() + uniform() + uniform(); }

 private:
  std::mt19937 gen_;
};

std::vector<uint8_t> encode(const std::vector<float>& v, GGMLType type) {
  std::vector<uint8_t> out;
  if (type == GGMLType::F32) {
    out.resize(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
  } else {
    out.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = fp32_to_fp16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// The vocabulary after the 259 special and byte tokens: common pieces first, then made-up ones.
std::vector<std::string> extra_pieces(uint32_t n) {
  static const char* const kCommon[] = {
      "▁the", "▁a",    "e",     "t",     "▁and", "o",     "▁to",   "a",    "n",   "s",
      "▁was", "i",     "h",     "r",     "▁he",  "▁she",  "l",     "d",    "▁it", "▁of",
      "u",    "▁in",   "m",     "▁T",    "c",    "y",     "▁Lily", "g",    "▁S",  "w",
      "▁b",   "▁day",  "▁play", "▁said", "p",    "f",     "▁O",    "▁His", ".",   ",",
      "!",    "▁went", "▁they", "▁with", "▁big", "▁dog",  "▁cat",  "▁sun", "er",  "in",
      "ed",   "ing",   "▁be",   "▁hap",  "py",   "▁time", "▁upon", "▁One", "▁so", "▁up",
  };
  std::vector<std::string> out;
  for (const char* p : kCommon) {
    if (out.size() == n) return out;
    out.emplace_back(p);
  }
  for (uint32_t i = 0; out.size() < n; ++i) out.push_back(fmt::format("▁w{}", i));
  return out;
}

}  // namespace

void write_random_llama(const std::string& path, const RandomLlamaConfig& c) {
  if (c.n_head == 0 || c.n_head_kv == 0 || c.n_embd % c.n_head != 0 || c.n_head % c.n_head_kv != 0)
    throw std::invalid_argument("write_random_llama: inconsistent head counts");
  const uint32_t head_dim = c.n_embd / c.n_head;
  const uint32_t n_rot = c.n_rot ? c.n_rot : head_dim;
  if (n_rot > head_dim || n_rot % 2 != 0)
    throw std::invalid_argument("write_random_llama: bad n_rot");
  if (c.n_vocab < 260) throw std::invalid_argument("write_random_llama: n_vocab below 260");
  if (c.type != GGMLType::F32 && c.type != GGMLType::F16)
    throw std::invalid_argument("write_random_llama: type must be F32 or F16");
  const uint32_t kv_dim = c.n_head_kv * head_dim;

  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", fmt::format("random-llama-{}", c.seed));
  w.set_u32("llama.context_length", c.n_ctx);
  w.set_u32("llama.embedding_length", c.n_embd);
  w.set_u32("llama.block_count", c.n_layer);
  w.set_u32("llama.feed_forward_length", c.n_ff);
  w.set_u32("llama.attention.head_count", c.n_head);
  w.set_u32("llama.attention.head_count_kv", c.n_head_kv);
  w.set_u32("llama.rope.dimension_count", n_rot);
  w.set_f32("llama.rope.freq_base", c.rope_base);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.eps);

  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0.0f, 0.0f, 0.0f};
  std::vector<int32_t> types = {2, 3, 3};  // unknown, control, control
  for (uint32_t b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    scores.push_back(0.0f);
    types.push_back(6);  // byte
  }
  const uint32_t n_extra = c.n_vocab - uint32_t(tokens.size());
  std::vector<std::string> extra = extra_pieces(n_extra);
  for (uint32_t i = 0; i < n_extra; ++i) {
    tokens.push_back(extra[i]);
    scores.push_back(-float(i + 1));
    types.push_back(1);  // normal
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);

  Rng rng(c.seed);
  // ne = {k, m}: m rows of k, entries uniform(-1, 1) / sqrt(k).
  auto matrix = [&](const std::string& name, uint32_t k, uint32_t m) {
    std::vector<float> v(size_t(k) * m);
    const float s = 1.0f / std::sqrt(float(k));
    for (float& x : v) x = rng.uniform() * s;
    w.add_tensor(name, c.type, {k, m}, encode(v, c.type));
  };
  auto norm = [&](const std::string& name) {
    std::vector<float> v(c.n_embd);
    for (float& x : v) x = 1.0f + 0.1f * rng.uniform();
    w.add_tensor(name, GGMLType::F32, {c.n_embd}, encode(v, GGMLType::F32));
  };

  std::vector<float> embd(size_t(c.n_embd) * c.n_vocab);
  for (float& x : embd) x = rng.normalish();
  w.add_tensor("token_embd.weight", c.type, {c.n_embd, c.n_vocab}, encode(embd, c.type));
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    auto name = [&](const char* what) { return fmt::format("blk.{}.{}.weight", l, what); };
    norm(name("attn_norm"));
    matrix(name("attn_q"), c.n_embd, c.n_embd);
    matrix(name("attn_k"), c.n_embd, kv_dim);
    matrix(name("attn_v"), c.n_embd, kv_dim);
    matrix(name("attn_output"), c.n_embd, c.n_embd);
    norm(name("ffn_norm"));
    matrix(name("ffn_gate"), c.n_embd, c.n_ff);
    matrix(name("ffn_up"), c.n_embd, c.n_ff);
    matrix(name("ffn_down"), c.n_ff, c.n_embd);
  }
  norm("output_norm.weight");
  if (!c.tied_output) matrix("output.weight", c.n_embd, c.n_vocab);
  w.write(path);
}

}  // namespace vkllm::test
