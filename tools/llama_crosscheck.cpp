// Helper of bench/crosscheck_llamacpp.sh: writes small random llama models in the variants whose
// semantics vkllm must share with llama.cpp, and prints vkllm's next-token probabilities for a
// token sequence, so the script can compare them with llama.cpp's.
//
// Usage: llama_crosscheck write DIR          writes DIR/{plain,linear,freqs}.gguf: dim 256, 2
//                                            layers, 4 heads over 2 KV heads (head_dim 64), FFN
//                                            512, RoPE base 500000, a llama-bpe vocabulary of 512,
//                                            untied output; linear: rope.scaling.factor 4;
//                                            freqs: rope_freqs.weight 1 .. 32 (Llama 3.1 style);
//                                            and DIR/<format>.gguf: plain's weights in Q8_0 ..
//                                            IQ4_XS (kQuantVariants)
//        llama_crosscheck probs MODEL ID...  one JSON line: per position the 5 most likely next
//                                            tokens as [id, probability] (softmax of the logits)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "graph/engine.h"
#include "graph/synthetic.h"
#include "quant/gguf.h"
#include "runtime/context.h"

using namespace vkllm;

namespace {

// The weight formats whose files the script also compares (the plain model's weights in each).
const std::pair<const char*, GGMLType> kQuantVariants[] = {
    {"q8_0", GGMLType::Q8_0}, {"q4_0", GGMLType::Q4_0},     {"q4_1", GGMLType::Q4_1},
    {"q5_0", GGMLType::Q5_0}, {"q5_1", GGMLType::Q5_1},     {"q2_k", GGMLType::Q2_K},
    {"q3_k", GGMLType::Q3_K}, {"q4_k", GGMLType::Q4_K},     {"q5_k", GGMLType::Q5_K},
    {"q6_k", GGMLType::Q6_K}, {"iq4_nl", GGMLType::IQ4_NL}, {"iq4_xs", GGMLType::IQ4_XS}};

void write_variants(const std::string& dir) {
  std::vector<std::string> variants = {"plain", "linear", "freqs"};
  for (const auto& [name, type] : kQuantVariants) variants.push_back(name);
  for (const std::string& variant : variants) {
    SyntheticLlamaConfig c;
    c.n_embd = 256, c.n_layer = 2, c.n_head = 4, c.n_head_kv = 2, c.n_ff = 512, c.n_vocab = 512;
    c.n_ctx = 256, c.rope_base = 500000, c.tokenizer = "llama-bpe", c.seed = 3;
    for (const auto& [name, type] : kQuantVariants)
      if (variant == name) c.type = type;
    c.edit = [variant](GGUFWriter& w) {
      if (variant == "linear") {
        w.set_string("llama.rope.scaling.type", "linear");
        w.set_f32("llama.rope.scaling.factor", 4.0f);
      } else if (variant == "freqs") {
        std::vector<float> f(32);  // head_dim / 2 pairs
        for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + 31.0f * float(i) / float(f.size());
        w.add_tensor("rope_freqs.weight", GGMLType::F32, {f.size()},
                     {reinterpret_cast<const uint8_t*>(f.data()), f.size() * 4});
      }
    };
    write_synthetic_llama(dir + "/" + variant + ".gguf", c);
  }
}

void probs(const std::string& path, const std::vector<int32_t>& ids) {
  rt::Context ctx;
  GGUFFile f = GGUFFile::open(path);
  EngineOptions o;
  o.all_logits = true;
  o.n_ctx = 256;
  Engine e(ctx, f, o);
  const std::vector<float> logits = e.eval(ids);
  const size_t V = logits.size() / ids.size();
  std::printf("[");
  for (size_t t = 0; t < ids.size(); ++t) {
    const float* l = logits.data() + t * V;
    const double mx = *std::max_element(l, l + V);
    double sum = 0;
    for (size_t i = 0; i < V; ++i) sum += std::exp(l[i] - mx);
    std::vector<std::pair<double, int>> p;
    for (size_t i = 0; i < V; ++i) p.emplace_back(std::exp(l[i] - mx) / sum, int(i));
    std::partial_sort(p.begin(), p.begin() + 5, p.end(), std::greater<>());
    std::printf("%s[", t ? "," : "");
    for (int k = 0; k < 5; ++k) std::printf("%s[%d,%.9g]", k ? "," : "", p[k].second, p[k].first);
    std::printf("]");
  }
  std::printf("]\n");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "write" && argc == 3) {
      write_variants(argv[2]);
    } else if (cmd == "probs" && argc > 3) {
      std::vector<int32_t> ids;
      for (int i = 3; i < argc; ++i) ids.push_back(std::stoi(argv[i]));
      probs(argv[2], ids);
    } else {
      std::fprintf(stderr, "usage: llama_crosscheck write DIR | probs MODEL ID...\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
