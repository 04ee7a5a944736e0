// The scalar CPU llama reference (tests/support/cpu_llama.h): it must reproduce the published
// stories260K greedy story exactly, and be self-consistent on random models of every shape the
// random model writer can produce.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "graph/tokenizer.h"
#include "quant/gguf.h"
#include "support/cpu_llama.h"
#include "support/random_model.h"
#include "support/scratch.h"

using namespace vkllm;

namespace {

std::string shared_file(const std::string& rel) {
  const char* dir = std::getenv("VKLLM_SHARED_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "VKLLM_SHARED_DIR is not set (ctest sets it)");
  return std::string(dir) + "/" + rel;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string rstrip(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

Vocab vocab_from(const GGUFFile& f) {
  Vocab v;
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  v.scores = f.get_f32_array("tokenizer.ggml.scores");
  v.types = f.get_i32_array("tokenizer.ggml.token_type");
  v.bos = f.get_u32("tokenizer.ggml.bos_token_id");
  v.eos = f.get_u32("tokenizer.ggml.eos_token_id");
  v.unk = f.opt_u32("tokenizer.ggml.unknown_token_id").value_or(0);
  return v;
}

int32_t argmax(const std::vector<float>& v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// A temporary file removed when it goes out of scope.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& stem)
      : path((test::scratch_dir() / (stem + ".gguf")).string()) {}
  ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("cpu llama: stories260K greedy story from BOS") {
  GGUFFile f = GGUFFile::open(shared_file("models/stories260K.gguf"));
  test::CpuLlama m(f);
  CHECK(m.n_embd() == 64);
  CHECK(m.n_layer() == 5);
  CHECK(m.n_head() == 8);
  CHECK(m.n_head_kv() == 4);
  CHECK(m.head_dim() == 8);
  CHECK(m.n_ff() == 172);
  CHECK(m.n_vocab() == 512);
  CHECK(m.n_rot() == 8);

  // llama2.c's default run (`-n 256`): forward passes at positions 0..255, starting from BOS, each
  // one's argmax printed. (The fixture's notes say 200 positions, but its text is exactly these
  // 256 tokens; 199 or 200 steps stop mid-sentence.) The model ends a story by emitting BOS (1);
  // EOS is 2; either stops early.
  constexpr uint32_t kSteps = 256;
  std::vector<int32_t> generated;
  int32_t tok = 1;
  for (uint32_t pos = 0; pos < kSteps; ++pos) {
    std::vector<float> logits = m.forward(std::span<const int32_t>(&tok, 1));
    REQUIRE(logits.size() == 512);
    tok = argmax(logits);
    if (tok == 1 || tok == 2) break;
    generated.push_back(tok);
  }
  CHECK(generated.size() == kSteps);
  CHECK(m.n_past() == kSteps);

  // Detokenize piece by piece after BOS; the Detokenizer strips the first piece's leading space
  // as llama2.c does.
  Tokenizer tk(vocab_from(f));
  Detokenizer detok(tk);
  std::string text = detok.push(1);
  for (int32_t id : generated) text += detok.push(id);
  text += detok.flush();

  // The fixture may or may not end with a newline: compare modulo trailing whitespace.
  const std::string want = rstrip(read_text(shared_file("models/stories260K.greedy.txt")));
  const std::string got = rstrip(text);
  if (got != want) {
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    FAIL_CHECK("greedy story differs at byte " << i << "\n  want: ..." << want.substr(i, 60)
                                               << "\n  got:  ..." << got.substr(i, 60));
  }
  CHECK(got == want);
}

namespace {

void check_random_model(const test::RandomLlamaConfig& c, const char* what) {
  INFO(what);
  TempFile tmp(what);
  test::write_random_llama(tmp.path, c);
  GGUFFile f = GGUFFile::open(tmp.path);
  CHECK((f.find_tensor("output.weight") == nullptr) == c.tied_output);
  test::CpuLlama m(f);
  CHECK(m.n_embd() == c.n_embd);
  CHECK(m.n_layer() == c.n_layer);
  CHECK(m.n_head() == c.n_head);
  CHECK(m.n_head_kv() == c.n_head_kv);
  CHECK(m.n_ff() == c.n_ff);
  CHECK(m.n_vocab() == c.n_vocab);
  CHECK(m.n_ctx() == c.n_ctx);
  CHECK(m.n_rot() == (c.n_rot ? c.n_rot : c.n_embd / c.n_head));

  const std::vector<int32_t> tokens = {1, 17, int32_t(c.n_vocab) - 1, 260, 3, 42, 17};
  const size_t T = tokens.size(), V = c.n_vocab;

  // One at a time.
  std::vector<float> seq;
  for (int32_t t : tokens) {
    std::vector<float> l = m.forward(std::span<const int32_t>(&t, 1));
    REQUIRE(l.size() == V);
    seq.insert(seq.end(), l.begin(), l.end());
  }
  CHECK(m.n_past() == T);
  for (float x : seq) REQUIRE(std::isfinite(x));
  for (size_t t = 0; t < T; ++t) {
    auto row = std::span<const float>(seq).subspan(t * V, V);
    auto [lo, hi] = std::minmax_element(row.begin(), row.end());
    CHECK_MESSAGE(*hi - *lo > 0.1f, "logits of token " << t << " barely vary");
  }
  // The same token at different positions sees different contexts.
  double diff = 0;
  for (size_t i = 0; i < V; ++i)
    diff = std::max(diff, double(std::fabs(seq[V + i] - seq[6 * V + i])));
  CHECK(diff > 1e-3);

  // As one batch, all logits.
  m.reset();
  CHECK(m.n_past() == 0);
  std::vector<float> batch = m.forward(tokens, true);
  REQUIRE(batch.size() == T * V);
  double worst = 0;
  for (size_t i = 0; i < batch.size(); ++i)
    worst = std::max(worst, double(std::fabs(batch[i] - seq[i])));
  CHECK(worst <= 1e-5);

  // Split in two batches; only the last token's logits.
  m.reset();
  m.forward(std::span<const int32_t>(tokens).first(3));
  std::vector<float> last = m.forward(std::span<const int32_t>(tokens).subspan(3));
  REQUIRE(last.size() == V);
  worst = 0;
  for (size_t i = 0; i < V; ++i)
    worst = std::max(worst, double(std::fabs(last[i] - seq[(T - 1) * V + i])));
  CHECK(worst <= 1e-5);
  CHECK(m.n_past() == T);
}

}  // namespace

TEST_CASE("cpu llama: random models are finite and batch-consistent") {
  test::RandomLlamaConfig c;  // GQA 4/2, odd FFN width 67
  check_random_model(c, "gqa");

  test::RandomLlamaConfig mha;
  mha.n_head_kv = 4;
  mha.n_ff = 96;
  mha.seed = 2;
  check_random_model(mha, "mha");

  test::RandomLlamaConfig f16;
  f16.type = GGMLType::F16;
  f16.seed = 3;
  check_random_model(f16, "f16");

  test::RandomLlamaConfig tied;
  tied.tied_output = true;
  tied.seed = 4;
  check_random_model(tied, "tied");

  test::RandomLlamaConfig partial;
  partial.n_rot = 6;  // head_dim 12
  partial.n_head_kv = 1;
  partial.rope_base = 500000;
  partial.seed = 5;
  check_random_model(partial, "partial-rope");
}

TEST_CASE("cpu llama: context limit") {
  test::RandomLlamaConfig c;
  c.n_ctx = 4;
  TempFile tmp("ctx");
  test::write_random_llama(tmp.path, c);
  test::CpuLlama m(GGUFFile::open(tmp.path));
  const std::vector<int32_t> four = {1, 5, 6, 7};
  CHECK(m.forward(four).size() == c.n_vocab);
  const int32_t one = 8;
  CHECK_THROWS(m.forward(std::span<const int32_t>(&one, 1)));
}
