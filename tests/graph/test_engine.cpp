// The Vulkan forward pass against the scalar CPU reference (tests/support/cpu_llama), on the real
// stories260K model and on random llama-shaped models written by the tests.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "graph/engine.h"
#include "graph/ops.h"
#include "support/cpu_llama.h"
#include "support/random_model.h"
#include "support/scratch.h"
#include "support/vk_test.h"

using namespace vkllm;
namespace fs = std::filesystem;

namespace {

// Max relative logit error: |got - want| / max(|want|, 1) over all logits.
constexpr double kLogitTol = 1e-4;

std::string stories() {
  return test::shared_path("models/stories260K.gguf");
}

std::string random_model(const std::string& name, const test::RandomLlamaConfig& cfg) {
  const std::string path = (test::scratch_dir() / (name + ".gguf")).string();
  test::write_random_llama(path, cfg);
  return path;
}

std::vector<int32_t> some_tokens(uint32_t n, uint32_t n_vocab, uint32_t seed) {
  std::vector<int32_t> t{1};
  uint32_t s = seed;
  while (t.size() < n) {
    s = s * 1664525u + 1013904223u;
    t.push_back(3 + static_cast<int32_t>((s >> 8) % (n_vocab - 3)));
  }
  return t;
}

// Prompt as one batch (all logits), then `decode` single-token steps; every logit compared.
// kv_half: an f16 KV cache, against a reference that rounds its cached keys and values likewise.
// max_weight_buffer: EngineOptions::max_weight_buffer (0: the device's limit).
void compare_with_reference(const std::string& path, uint32_t prompt_len, uint32_t decode,
                            uint32_t n_batch, bool kv_half = false, double tol = kLogitTol,
                            uint64_t max_weight_buffer = 0) {
  GGUFFile f = GGUFFile::open(path);
  test::CpuLlama ref(f, kv_half);
  EngineOptions o;
  o.all_logits = true;
  o.n_batch = n_batch;
  o.n_ctx = 64;
  o.kv_half = kv_half;
  o.max_weight_buffer = max_weight_buffer;
  Engine eng(test::context(), f, o);
  auto toks = some_tokens(prompt_len + decode, ref.n_vocab(), prompt_len * 7 + decode);
  std::span<const int32_t> prompt(toks.data(), prompt_len);
  test::check_close(eng.eval(prompt), ref.forward(prompt, true), tol, 1.0, "prompt logits");
  for (uint32_t i = 0; i < decode; ++i) {
    std::span<const int32_t> one(&toks[prompt_len + i], 1);
    test::check_close(eng.eval(one), ref.forward(one, true), tol, 1.0, "decode logits");
  }
  test::check_no_validation_messages();
}

// A model whose widths are multiples of 32 (dim 64, 4 heads over 2 kv heads, FFN 96): on devices
// with texel kernels it runs matvec_t (planar Q4_0/Q8_0, the fused gate/up SwiGLU), attention_t
// and, for one token, the deferred norms.
test::RandomLlamaConfig w64_config(GGMLType type, uint32_t seed) {
  test::RandomLlamaConfig c;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ff = 96;
  c.type = type;
  c.seed = seed;
  return c;
}

}  // namespace

TEST_CASE("engine: stories260K logits match the CPU reference (prompt batch and decode)") {
  compare_with_reference(stories(), 13, 6, 64);
}

TEST_CASE("engine: prompt split into several batches matches the CPU reference") {
  compare_with_reference(stories(), 13, 2, 5);
}

TEST_CASE("engine: random llama models match the CPU reference") {
  struct Case {
    const char* name;
    test::RandomLlamaConfig cfg;
  };
  std::vector<Case> cases;
  test::RandomLlamaConfig base;
  cases.push_back({"gqa", base});
  auto c = base;
  c.n_head_kv = c.n_head;
  c.seed = 2;
  cases.push_back({"mha", c});
  c = base;
  c.n_ff = 97;
  c.n_head = 6;
  c.n_head_kv = 1;
  c.seed = 3;
  cases.push_back({"mqa_odd_ffn", c});
  c = base;
  c.type = GGMLType::F16;
  c.tied_output = true;
  c.seed = 4;
  cases.push_back({"f16_tied", c});
  c = base;
  c.n_rot = 6;  // head_dim 12: only the first 6 dims rotate
  c.seed = 5;
  cases.push_back({"partial_rope", c});
  // Widths that are multiples of 32 (w64_config); q/k/v are one fused product anywhere.
  for (GGMLType type : {GGMLType::F32, GGMLType::F16, GGMLType::Q4_0, GGMLType::Q8_0}) {
    cases.push_back({type == GGMLType::F32    ? "w64_f32"
                     : type == GGMLType::F16  ? "w64_f16"
                     : type == GGMLType::Q4_0 ? "w64_q4_0"
                                              : "w64_q8_0",
                     w64_config(type, 10 + static_cast<uint32_t>(type))});
  }
  // Linear RoPE scaling and Llama 3's frequency factors (rope_freqs.weight), on the storage-buffer
  // rope_kv (head_dim 12, partial rotation) and on the fused q/k/v product's RoPE (w64).
  auto scaled_rope = [](uint32_t n_pairs) {
    return [n_pairs](GGUFWriter& w) {
      w.set_string("llama.rope.scaling.type", "linear");
      w.set_f32("llama.rope.scaling.factor", 2.5f);
      std::vector<float> factors(n_pairs);
      for (uint32_t i = 0; i < n_pairs; ++i) factors[i] = 1.0f + 7.0f * float(i) / float(n_pairs);
      w.add_tensor("rope_freqs.weight", GGMLType::F32, {n_pairs},
                   {reinterpret_cast<const uint8_t*>(factors.data()), factors.size() * 4});
    };
  };
  c = base;
  c.n_rot = 6;
  c.seed = 6;
  c.edit = scaled_rope(3);
  cases.push_back({"scaled_rope", c});
  c = w64_config(GGMLType::Q4_0, 7);
  c.edit = scaled_rope(8);
  cases.push_back({"w64_q4_0_scaled_rope", c});
  // Tied quantized embeddings: repacked to the planar layout, gathered from it.
  for (GGMLType type : {GGMLType::Q4_0, GGMLType::Q8_0}) {
    c = w64_config(type, 20 + static_cast<uint32_t>(type));
    c.tied_output = true;
    cases.push_back({type == GGMLType::Q4_0 ? "w64_q4_0_tied" : "w64_q8_0_tied", c});
  }
  // The other planar formats (where the texel kernels run), the K-quants with widths of whole
  // 256-element super-blocks.
  for (GGMLType type :
       {GGMLType::Q4_1, GGMLType::Q5_0, GGMLType::Q5_1, GGMLType::IQ4_NL, GGMLType::BF16}) {
    c = w64_config(type, 40 + static_cast<uint32_t>(type));
    cases.push_back({type == GGMLType::Q4_1     ? "w64_q4_1"
                     : type == GGMLType::Q5_0   ? "w64_q5_0"
                     : type == GGMLType::Q5_1   ? "w64_q5_1"
                     : type == GGMLType::IQ4_NL ? "w64_iq4_nl"
                                                : "w64_bf16",
                     c});
  }
  for (GGMLType type : {GGMLType::Q4_K, GGMLType::Q5_K, GGMLType::Q6_K, GGMLType::Q3_K,
                        GGMLType::Q2_K, GGMLType::IQ4_XS}) {
    c = w64_config(type, 30 + static_cast<uint32_t>(type));
    c.n_embd = 256;
    c.n_ff = 512;
    cases.push_back({type == GGMLType::Q4_K   ? "w256_q4_k"
                     : type == GGMLType::Q5_K ? "w256_q5_k"
                     : type == GGMLType::Q6_K ? "w256_q6_k"
                     : type == GGMLType::Q3_K ? "w256_q3_k"
                     : type == GGMLType::Q2_K ? "w256_q2_k"
                                              : "w256_iq4_xs",
                     c});
  }
  for (GGMLType type : {GGMLType::Q6_K, GGMLType::Q2_K}) {  // tied: the planar gather
    c = w64_config(type, 30 + static_cast<uint32_t>(type));
    c.n_embd = 256;
    c.n_ff = 512;
    c.tied_output = true;
    cases.push_back({type == GGMLType::Q6_K ? "w256_q6_k_tied" : "w256_q2_k_tied", c});
  }
  for (const auto& k : cases) {
    INFO("model: " << std::string(k.name));  // doctest prints a char pointer as a pointer
    compare_with_reference(random_model(k.name, k.cfg), 9, 4, 64);
  }
}

// An f16 KV cache: the fused q/k/v writers and attention_t (head_dim a multiple of 8),
// attention.comp (head_dim 12), and the storage-buffer kernels (rope_kv) match a reference that
// rounds K and V to f16 as they are cached. On the random models within 2e-5 (measured ~5e-7;
// the rounding itself moves their logits by ~1e-4, so an unrounded cache fails). On stories260K
// within 1e-2: its logits react to single f16 roundings that the device's and the reference's
// last-bit differences flip (~4e-3 measured, against ~2.5e-2 between f16 and f32 caches); its
// greedy story is checked token for token in the CLI test.
TEST_CASE("engine: an f16 KV cache matches the CPU reference with f16-rounded keys and values") {
  compare_with_reference(random_model("kvh_q4_0", w64_config(GGMLType::Q4_0, 50)), 9, 4, 64, true,
                         2e-5);
  test::RandomLlamaConfig c;  // dim 48, 4 heads over 2: head_dim 12
  c.seed = 51;
  compare_with_reference(random_model("kvh_hd12", c), 9, 4, 5, true, 2e-5);
  ::setenv("VKLLM_TEXEL_KERNELS", "0", 1);
  compare_with_reference(random_model("kvh_storage", w64_config(GGMLType::F16, 52)), 9, 4, 64, true,
                         2e-5);
  ::unsetenv("VKLLM_TEXEL_KERNELS");
  compare_with_reference(stories(), 13, 6, 64, true, 1e-2);
}

// Kernel shapes set by a device profile (graph/tuning.h) other than the defaults: narrower
// workgroups, fewer rows per invocation and a batch width that does not divide the prompt give
// the same logits (and the loader repacks the planar weights to the profile's tiles).
TEST_CASE("engine: kernel settings from a device profile match the CPU reference") {
  const fs::path profile = test::scratch_dir() / "profile.ini";
  {
    std::ofstream f(profile);
    f << "[all]\nlane_width = 4\nlane_rows = 4\nlane_rows_one = 4\nbatch_tokens = 3\n"
         "batch_tokens_f16 = 5\nelementwise_wg = 32\n";
  }
  ::setenv("VKLLM_DEVICE_PROFILE", profile.c_str(), 1);
  CHECK(Ops(test::context()).tuning().lane_rows == 4);
  CHECK(Ops(test::context()).tuning().batch_tokens_f16 == 5);
  for (GGMLType type : {GGMLType::F32, GGMLType::F16, GGMLType::Q4_0, GGMLType::Q8_0}) {
    INFO("type: " << type_name(type));
    compare_with_reference(random_model(std::string("profile_") + type_name(type),
                                        w64_config(type, 40 + static_cast<uint32_t>(type))),
                           9, 3, 64);
  }
  ::unsetenv("VKLLM_DEVICE_PROFILE");
}

// The same models through the storage-buffer kernels (what GPUs run today): VKLLM_TEXEL_KERNELS=0
// is read when the engine's Ops is made.
TEST_CASE("engine: storage-buffer kernels (VKLLM_TEXEL_KERNELS=0) match the CPU reference") {
  ::setenv("VKLLM_TEXEL_KERNELS", "0", 1);
  compare_with_reference(stories(), 13, 3, 64);
  test::RandomLlamaConfig c;
  c.n_embd = 64;
  c.n_ff = 96;
  c.type = GGMLType::Q4_0;
  compare_with_reference(random_model("stored_q4_0", c), 9, 3, 64);
  ::unsetenv("VKLLM_TEXEL_KERNELS");
}

TEST_CASE("engine: 64 greedy steps on stories260K pick the same tokens as the CPU reference") {
  GGUFFile f = GGUFFile::open(stories());
  test::CpuLlama ref(f);
  Engine eng(test::context(), f);
  int32_t a = 1, b = 1;
  std::vector<float> la = eng.eval(std::span<const int32_t>(&a, 1));
  std::vector<float> lb = ref.forward(std::span<const int32_t>(&b, 1));
  auto argmax = [](const std::vector<float>& v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
  };
  for (int step = 0; step < 64; ++step) {
    a = argmax(la);
    b = argmax(lb);
    REQUIRE_MESSAGE(a == b, "step " << step);
    la = eng.eval(std::span<const int32_t>(&a, 1));
    lb = ref.forward(std::span<const int32_t>(&b, 1));
  }
  CHECK(eng.stats().graphs_recorded == 1);  // one decode graph, replayed
  CHECK(eng.stats().steps_replayed == 65);
  test::check_no_validation_messages();
}

TEST_CASE("engine: a replayed decode step gives the same logits as a freshly recorded one") {
  GGUFFile f = GGUFFile::open(stories());
  Engine eng(test::context(), f);
  auto toks = some_tokens(12, 512, 9);
  std::vector<std::vector<float>> replayed;
  for (int32_t t : toks) replayed.push_back(eng.eval(std::span<const int32_t>(&t, 1)));
  eng.reset();
  for (size_t i = 0; i < toks.size(); ++i) {
    eng.drop_recordings();  // record afresh for every token
    CHECK(eng.eval(std::span<const int32_t>(&toks[i], 1)) == replayed[i]);
  }
  test::check_no_validation_messages();
}

// On a device with the texel kernels (lavapipe), a model whose widths are multiples of 32 defers
// every norm of the decode step into the products around it: per layer the q/k/v product,
// attention, the attention output, gate/up and down, plus the embedding gather, the first norm
// and the output product. With the storage kernels each residual add keeps its add_rms_norm
// dispatch. The prompt batch before it (last token's logits only) keeps add_rms_norm.
TEST_CASE("engine: deferred norms leave five decode dispatches per layer") {
  GGUFFile f = GGUFFile::open(random_model("deferred_q4_0", w64_config(GGMLType::Q4_0, 77)));
  test::CpuLlama ref(f);
  const bool texel = test::context().info().texel_buffers;
  const auto toks = some_tokens(10, ref.n_vocab(), 31);
  const std::span<const int32_t> prompt(toks.data(), 9), next(&toks[9], 1);
  const auto want_prompt = ref.forward(prompt, false);
  const auto want_next = ref.forward(next, false);
  for (const char* kernels : {"1", "0"}) {
    INFO("VKLLM_TEXEL_KERNELS=" << std::string(kernels));
    ::setenv("VKLLM_TEXEL_KERNELS", kernels, 1);
    EngineOptions o;
    o.n_ctx = 64;
    Engine eng(test::context(), f, o);
    test::check_close(eng.eval(prompt), want_prompt, kLogitTol, 1.0, "last prompt logits");
    test::check_close(eng.eval(next), want_next, kLogitTol, 1.0, "decode logits");
    const uint32_t layers = eng.params().n_layer;
    if (kernels[0] == '1' && texel)
      CHECK(eng.stats().decode_dispatches == 5 * layers + 3);
    else
      CHECK(eng.stats().decode_dispatches >= 7 * layers);
  }
  ::unsetenv("VKLLM_TEXEL_KERNELS");
  test::check_no_validation_messages();
}

TEST_CASE("engine: context overflow and bad token ids are errors, not crashes") {
  GGUFFile f = GGUFFile::open(stories());
  EngineOptions o;
  o.n_ctx = 8;
  Engine eng(test::context(), f, o);
  auto toks = some_tokens(9, 512, 3);
  CHECK_THROWS_AS(eng.eval(toks), std::out_of_range);
  eng.eval(std::span<const int32_t>(toks.data(), 8));
  CHECK_THROWS_AS(eng.eval(std::span<const int32_t>(toks.data(), 1)), std::out_of_range);
  eng.reset();
  std::vector<int32_t> bad{1, 512};
  CHECK_THROWS_AS(eng.eval(bad), std::invalid_argument);
  std::vector<int32_t> neg{-1};
  CHECK_THROWS_AS(eng.eval(neg), std::invalid_argument);
  test::check_no_validation_messages();
}

TEST_CASE("engine: activation memory is shared between tensors with disjoint lifetimes") {
  GGUFFile f = GGUFFile::open(stories());
  Engine eng(test::context(), f);
  int32_t bos = 1;
  eng.eval(std::span<const int32_t>(&bos, 1));
  CHECK(eng.stats().arena_bytes * 4 < eng.stats().unshared_bytes);
}

// The vocabulary-sized matrices split by rows where one buffer cannot hold them (here forced by a
// small EngineOptions::max_weight_buffer): the embedding gathered by one dispatch per piece, the
// output product per piece into the logits' columns (in place for one row, through a copy for
// a batch's rows). 300 tokens in pieces of 256 and 44 rows.
TEST_CASE("engine: embedding and output split into pieces match the CPU reference") {
  struct Case {
    const char* name;
    test::RandomLlamaConfig cfg;
  };
  std::vector<Case> cases;
  test::RandomLlamaConfig c;
  c.seed = 41;
  cases.push_back({"split_f32", c});
  c.tied_output = true;
  c.seed = 42;
  cases.push_back({"split_f32_tied", c});
  cases.push_back({"split_q4_0", w64_config(GGMLType::Q4_0, 43)});
  cases.push_back({"split_q8_0", w64_config(GGMLType::Q8_0, 44)});
  c = w64_config(GGMLType::Q8_0, 46);
  c.tied_output = true;
  cases.push_back({"split_q8_0_tied", c});
  c = w64_config(GGMLType::F16, 45);
  c.tied_output = true;
  cases.push_back({"split_f16_tied", c});
  for (const auto& k : cases) {
    INFO("model: " << std::string(k.name));
    const std::string path = random_model(k.name, k.cfg);
    GGUFFile f = GGUFFile::open(path);
    // A limit between 256 and 300 rows of the embedding as stored.
    const GGUFTensorInfo* emb = f.find_tensor("token_embd.weight");
    const uint64_t limit = emb->n_bytes / 300 * 280;
    compare_with_reference(path, 9, 4, 64, false, kLogitTol, limit);
    // The decode step holds both pieces of both matrices.
    EngineOptions o;
    o.n_ctx = 16;
    o.timestamps = true;
    o.max_weight_buffer = limit;
    Engine split(test::context(), f, o);
    split.eval(std::vector<int32_t>{1});
    std::vector<std::string> names;
    for (const NodeProfile& n : split.profile_last(1)) names.push_back(n.name);
    for (const char* want : {"embed#0", "embed#1", "output#0", "output#1"})
      CHECK_MESSAGE(std::find(names.begin(), names.end(), want) != names.end(), want);
  }
}

// A split context (rt::ContextOptions::split) runs each workgroup exactly as one lane does, so
// every logit is the same, in prompt batches (several per prompt) and in replayed decode steps.
TEST_CASE("engine: a context split across two driver instances gives the same logits") {
  // Split dispatches, and a second instance that only compiles.
  for (const bool split_dispatches : {true, false}) {
    CAPTURE(split_dispatches);
    auto split = test::split_context(2, split_dispatches);
    if (!split) return;
    for (const std::string& path :
         {stories(), random_model("split_q4_0", w64_config(GGMLType::Q4_0, 31))}) {
      CAPTURE(path);
      GGUFFile f = GGUFFile::open(path);
      EngineOptions o;
      o.all_logits = true;
      o.n_batch = 5;
      o.n_ctx = 64;
      Engine one(test::context(), f, o), two(*split, f, o);
      auto toks = some_tokens(19, 64, 5);
      std::span<const int32_t> prompt(toks.data(), 13);
      CHECK(two.eval(prompt) == one.eval(prompt));
      for (size_t i = 13; i < toks.size(); ++i) {
        std::span<const int32_t> t(&toks[i], 1);
        CHECK(two.eval(t) == one.eval(t));
      }
    }
    CHECK(split->validation_messages() == 0);
  }
  test::check_no_validation_messages();
}
