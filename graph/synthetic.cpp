#include "graph/synthetic.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "graph/pretokenize.h"
#include "graph/tokenizer.h"
#include "quant/formats.h"
#include "quant/gguf.h"

namespace vkllm {

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

// The text byte-level BPE vocabularies are learned from: stories, numbers, contractions in both
// cases, punctuation runs, tabs and line breaks, accents, CJK and an emoji, so the merges span the
// pre-tokenizers' cases.
constexpr std::string_view kBpeCorpus =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.\n"
    "One day, she saw a big dog in the park. The dog was happy and wagged its tail.\n"
    "\"Can I play with you?\" Lily asked. The dog barked, and they played all day long.\n\n"
    "Tom's mom said: \"Don't run! We'll be late, and I'm not joking.\" He'd heard it before.\n"
    "THEY'RE HERE, YOU'VE SEEN IT, WE'LL GO. It's 12:30 now; the train leaves at 1:45 pm.\n"
    "In 2024 there were 365 days... or were there 366? 3.14159 is close to pi, 1000000 is big.\n"
    "\tIndented line with a tab;   three spaces before this,\tand a tab again.\r\n"
    "Symbols: @#$%^&*()_+-=[]{}|<>/~` and -- dashes --- and ... dots!!! ??? ?!\n"
    "Caf\u00e9 au lait, na\u00efve fa\u00e7ade, Stra\u00dfe, \u00fcber, se\u00f1or, "
    "\u00c5ngstr\u00f6m.\n"
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u3082\u3002 "
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \U0001F600 ok\n"
    "The cat sat on the mat. The cat and the dog were friends, and they were happy together.\n"
    "She said, \"I like to read books, and I like to draw pictures of the sun and the moon.\"\n";

// A byte-level BPE vocabulary learned from kBpeCorpus: the 256 byte characters, then up to
// max_merges merges (the most frequent adjacent pair within the pre-tokenized words first, ties
// by the pair's spelling), each adding its joined token.
struct BpeVocab {
  std::vector<std::string> tokens, merges;
};
BpeVocab learn_bpe(PreTokenizer pre, size_t max_merges) {
  BpeVocab v;
  for (uint32_t b = 0; b < 256; ++b) v.tokens.push_back(byte_level_char(static_cast<uint8_t>(b)));
  std::map<std::vector<std::string>, uint32_t> words;  // a word's symbols -> its count
  for (std::string_view piece : pre_tokenize(kBpeCorpus, pre)) {
    std::vector<std::string> syms;
    for (unsigned char c : piece) syms.push_back(byte_level_char(c));
    ++words[syms];
  }
  std::set<std::string> known(v.tokens.begin(), v.tokens.end());
  while (v.merges.size() < max_merges) {
    std::map<std::pair<std::string, std::string>, uint32_t> pairs;
    for (const auto& [syms, n] : words)
      for (size_t i = 1; i < syms.size(); ++i) pairs[{syms[i - 1], syms[i]}] += n;
    auto best = pairs.end();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (best == pairs.end() || it->second > best->second) best = it;
    if (best == pairs.end()) break;
    const auto [a, b] = best->first;
    v.merges.push_back(a + " " + b);
    if (known.insert(a + b).second) v.tokens.push_back(a + b);
    std::map<std::vector<std::string>, uint32_t> next;
    for (const auto& [syms, n] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < syms.size(); ++i) {
        if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
          merged.push_back(a + b);
          ++i;
        } else {
          merged.push_back(syms[i]);
        }
      }
      next[merged] += n;
    }
    words = std::move(next);
  }
  return v;
}

// The type a matrix with rows of `k` elements is written in.
GGMLType matrix_type(GGMLType want, uint32_t k) {
  const WeightFormat* wf = weight_format(want);
  return k % wf->block_size == 0 ? want : GGMLType::F32;
}

}  // namespace

void write_synthetic_llama(const std::string& path, const SyntheticLlamaConfig& c,
                           const SyntheticProgress& progress) {
  if (c.n_head == 0 || c.n_head_kv == 0 || c.n_embd % c.n_head != 0 || c.n_head % c.n_head_kv != 0)
    throw std::invalid_argument("synthetic llama: inconsistent head counts");
  const uint32_t head_dim = c.n_embd / c.n_head;
  const uint32_t n_rot = c.n_rot ? c.n_rot : head_dim;
  if (n_rot > head_dim || n_rot % 2 != 0) throw std::invalid_argument("synthetic llama: bad n_rot");
  if (c.n_vocab < 260) throw std::invalid_argument("synthetic llama: n_vocab below 260");
  const std::optional<PreTokenizer> pre = pre_tokenizer_from_name(c.tokenizer);
  if (c.tokenizer != "llama" && !pre)
    throw std::invalid_argument(fmt::format("synthetic llama: unknown tokenizer '{}' (valid: {})",
                                            c.tokenizer, synthetic_tokenizer_names()));
  if (!weight_format(c.type))
    throw std::invalid_argument(
        fmt::format("synthetic llama: {} is not a weight format", type_name(c.type)));
  const uint32_t kv_dim = c.n_head_kv * head_dim;

  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", c.name.empty() ? fmt::format("random-llama-{}", c.seed) : c.name);
  if (auto ft = llama_file_type(c.type)) w.set_u32("general.file_type", *ft);
  w.set_u32("llama.context_length", c.n_ctx);
  w.set_u32("llama.embedding_length", c.n_embd);
  w.set_u32("llama.block_count", c.n_layer);
  w.set_u32("llama.feed_forward_length", c.n_ff);
  w.set_u32("llama.attention.head_count", c.n_head);
  w.set_u32("llama.attention.head_count_kv", c.n_head_kv);
  w.set_u32("llama.rope.dimension_count", n_rot);
  w.set_f32("llama.rope.freq_base", c.rope_base);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.eps);

  if (c.tokenizer == "llama") {
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
    w.set_string_array("tokenizer.ggml.tokens", std::move(tokens));
    w.set_f32_array("tokenizer.ggml.scores", std::move(scores));
    w.set_i32_array("tokenizer.ggml.token_type", std::move(types));
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  } else {
    // Byte-level BPE as Llama 3 lays it out: the learned tokens, then control tokens (begin and
    // end of text, reserved ones up to n_vocab).
    BpeVocab v = learn_bpe(*pre, c.n_vocab - 258);
    std::vector<int32_t> types(v.tokens.size(), 1);
    const auto bos = static_cast<uint32_t>(v.tokens.size());
    v.tokens.push_back("<|begin_of_text|>");
    v.tokens.push_back("<|end_of_text|>");
    for (uint32_t i = 0; v.tokens.size() < c.n_vocab; ++i)
      v.tokens.push_back(fmt::format("<|reserved_special_token_{}|>", i));
    types.resize(v.tokens.size(), 3);  // control
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", c.tokenizer);
    w.set_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
    w.set_i32_array("tokenizer.ggml.token_type", std::move(types));
    w.set_string_array("tokenizer.ggml.merges", std::move(v.merges));
    w.set_u32("tokenizer.ggml.bos_token_id", bos);
    w.set_u32("tokenizer.ggml.eos_token_id", bos + 1);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
  }

  Rng rng(c.seed);
  // Tensors are declared first and generated while the file is written, one at a time and in file
  // order (so the draws are in a fixed order): memory holds one encoded tensor.
  std::vector<std::function<void(std::vector<uint8_t>&)>> generate;
  std::vector<GGMLType> tensor_types;
  // ne = {k, m}: m rows of k, each entry draw() (in row-major order), encoded a chunk of rows at a
  // time so the f32 copy never exceeds ~1M floats.
  auto matrix = [&](const std::string& name, uint32_t k, uint32_t m, std::function<float()> draw) {
    const GGMLType type = matrix_type(c.type, k);
    w.add_tensor_info(name, type, {k, m});
    tensor_types.push_back(type);
    generate.push_back([type, k, m, draw = std::move(draw)](std::vector<uint8_t>& out) {
      out.reserve(*vkllm::row_bytes(type, k) * m);
      const uint32_t chunk = std::max<uint32_t>(1, (1u << 20) / k);
      std::vector<float> rows;
      for (uint32_t r0 = 0; r0 < m; r0 += chunk) {
        const uint32_t n = std::min(chunk, m - r0);
        rows.resize(size_t{n} * k);
        for (float& x : rows) x = draw();
        const std::vector<uint8_t> q = quantize_rows(type, rows.data(), n, k);
        out.insert(out.end(), q.begin(), q.end());
      }
    });
  };
  auto uniform_matrix = [&](const std::string& name, uint32_t k, uint32_t m) {
    const float s = 1.0f / std::sqrt(float(k));
    matrix(name, k, m, [&rng, s] { return rng.uniform() * s; });
  };
  auto norm = [&](const std::string& name) {
    w.add_tensor_info(name, GGMLType::F32, {c.n_embd});
    tensor_types.push_back(GGMLType::F32);
    generate.push_back([&rng, n = c.n_embd](std::vector<uint8_t>& out) {
      std::vector<float> v(n);
      for (float& x : v) x = 1.0f + 0.1f * rng.uniform();
      out.resize(v.size() * 4);
      std::memcpy(out.data(), v.data(), out.size());
    });
  };

  matrix("token_embd.weight", c.n_embd, c.n_vocab, [&rng] { return rng.normalish(); });
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    auto name = [&](const char* what) { return fmt::format("blk.{}.{}.weight", l, what); };
    norm(name("attn_norm"));
    uniform_matrix(name("attn_q"), c.n_embd, c.n_embd);
    uniform_matrix(name("attn_k"), c.n_embd, kv_dim);
    uniform_matrix(name("attn_v"), c.n_embd, kv_dim);
    uniform_matrix(name("attn_output"), c.n_embd, c.n_embd);
    norm(name("ffn_norm"));
    uniform_matrix(name("ffn_gate"), c.n_embd, c.n_ff);
    uniform_matrix(name("ffn_up"), c.n_embd, c.n_ff);
    uniform_matrix(name("ffn_down"), c.n_ff, c.n_embd);
  }
  norm("output_norm.weight");
  if (!c.tied_output) uniform_matrix("output.weight", c.n_embd, c.n_vocab);
  if (c.edit) c.edit(w);
  size_t index = 0;
  w.write_streaming(path, [&](const GGUFTensorInfo& info, std::vector<uint8_t>& out) {
    if (progress) progress(info.name, tensor_types[index], index, generate.size());
    generate[index++](out);
  });
}

std::optional<SyntheticLlamaConfig> synthetic_preset(std::string_view name) {
  std::string n(name);
  for (char& ch : n) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  SyntheticLlamaConfig c;
  c.n_ctx = 2048;
  if (n == "260K") {
    c.n_embd = 64, c.n_layer = 5, c.n_head = 8, c.n_head_kv = 4, c.n_ff = 172, c.n_vocab = 512;
    c.n_ctx = 512;
  } else if (n == "15M") {
    c.n_embd = 288, c.n_layer = 6, c.n_head = 6, c.n_head_kv = 6, c.n_ff = 768, c.n_vocab = 32000;
  } else if (n == "110M") {
    c.n_embd = 768, c.n_layer = 12, c.n_head = 12, c.n_head_kv = 12, c.n_ff = 2048,
    c.n_vocab = 32000;
  } else if (n == "1B") {
    c.n_embd = 2048, c.n_layer = 22, c.n_head = 32, c.n_head_kv = 4, c.n_ff = 5632,
    c.n_vocab = 32000;
  } else {
    return std::nullopt;
  }
  c.name = "synthetic-llama-" + n;
  return c;
}

std::string synthetic_tokenizer_names() {
  return "llama, " + pre_tokenizer_names();
}

std::string synthetic_preset_names() {
  return "260K, 15M, 110M, 1B";
}

std::optional<uint32_t> llama_file_type(GGMLType type) {
  // LLAMA_FTYPE_* values. A file quantized uniformly to a K-quant is labelled with the _M mix of
  // that K-quant (llama.cpp only uses the value for display).
  switch (type) {
    case GGMLType::F32:
      return 0;  // ALL_F32
    case GGMLType::F16:
      return 1;  // MOSTLY_F16
    case GGMLType::Q4_0:
      return 2;  // MOSTLY_Q4_0
    case GGMLType::Q4_1:
      return 3;  // MOSTLY_Q4_1
    case GGMLType::Q8_0:
      return 7;  // MOSTLY_Q8_0
    case GGMLType::Q5_0:
      return 8;  // MOSTLY_Q5_0
    case GGMLType::Q5_1:
      return 9;  // MOSTLY_Q5_1
    case GGMLType::Q2_K:
      return 10;  // MOSTLY_Q2_K
    case GGMLType::Q3_K:
      return 12;  // MOSTLY_Q3_K_M
    case GGMLType::Q4_K:
      return 15;  // MOSTLY_Q4_K_M
    case GGMLType::Q5_K:
      return 17;  // MOSTLY_Q5_K_M
    case GGMLType::Q6_K:
      return 18;  // MOSTLY_Q6_K
    case GGMLType::IQ4_NL:
      return 25;  // MOSTLY_IQ4_NL
    case GGMLType::IQ4_XS:
      return 30;  // MOSTLY_IQ4_XS
    case GGMLType::BF16:
      return 32;  // MOSTLY_BF16
    default:
      return std::nullopt;
  }
}

}  // namespace vkllm
