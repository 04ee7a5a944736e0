// Model files with random damage in their metadata and tensor infos: loading the tokenizer, the
// hyperparameters and the weights (graph/engine.h) either succeeds or throws an exception with a
// message, never crashes, hangs or reads out of bounds (this test also runs in the ASan+UBSan job).
// What loads is also used: a text encoded and decoded, and every eighth model evaluates a token.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "graph/engine.h"
#include "graph/tokenizer.h"
#include "quant/gguf.h"
#include "support/cli_runner.h"
#include "support/random_model.h"
#include "support/scratch.h"
#include "support/vk_test.h"

using namespace vkllm;

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  const std::string s = test::slurp(path);
  return {s.begin(), s.end()};
}

struct Outcome {
  int loaded = 0, rejected = 0, evaluated = 0;
};

// `iterations` copies of `base`, each with 1-4 damaged places in bytes [0, header) (the
// metadata and tensor infos) or cut short; every one goes as far through loading as it can.
Outcome corrupt_and_load(const std::vector<uint8_t>& base, uint64_t header, uint32_t seed,
                         int iterations, int evaluate_every) {
  std::mt19937 rng(seed);
  Outcome o;
  for (int it = 0; it < iterations; ++it) {
    std::vector<uint8_t> b = base;
    const int places = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < places; ++i) {
      const size_t pos = rng() % header;
      switch (rng() % 4) {
        case 0:
          b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          b[pos] = static_cast<uint8_t>(rng());
          break;
        case 2: {  // a 32-bit count, type or dimension set to an edge value
          static constexpr uint32_t kEdges[] = {0, 1, 2, 0x7FFFFFFF, 0xFFFFFFFF, 30, 4097};
          const uint32_t v = kEdges[rng() % std::size(kEdges)];
          for (size_t k = 0; k < 4 && pos + k < b.size(); ++k) b[pos + k] = uint8_t(v >> (8 * k));
          break;
        }
        default:  // the high half of a 64-bit length or offset
          for (size_t k = 4; k < 8 && pos + k < b.size(); ++k) b[pos + k] = 0xFF;
          break;
      }
    }
    if (rng() % 16 == 0) b.resize(rng() % b.size());
    INFO("iteration " << it);
    try {
      const GGUFFile f = GGUFFile::from_bytes(std::move(b));
      const Tokenizer tok = load_tokenizer(f);
      const std::vector<int32_t> ids = tok.encode("Once upon a time, 日本 <s>\n", true, true);
      (void)tok.decode(ids);
      EngineOptions eo;
      eo.n_ctx = 16;
      eo.n_batch = 4;
      Engine engine(test::context(), f, eo);
      ++o.loaded;
      if (o.loaded % evaluate_every == 0) {
        const int32_t id = ids.size() > 1 ? ids[1] % engine.params().n_vocab : 0;
        (void)engine.eval(std::vector<int32_t>{id});
        ++o.evaluated;
      }
    } catch (const std::exception& e) {
      CHECK(std::string(e.what()).size() > 0);
      ++o.rejected;
    }
  }
  return o;
}

}  // namespace

TEST_CASE(
    "model corruption: stories260K and a byte-level BPE model, damaged, load or are refused") {
  const std::string stories = test::shared_path("models/stories260K.gguf");
  const std::vector<uint8_t> a = read_file(stories);
  const uint64_t a_header = GGUFFile::open(stories).data_offset();

  test::RandomLlamaConfig c;
  c.tokenizer = "llama-bpe";
  c.n_vocab = 400;
  const std::string bpe = (test::scratch_dir() / "corruption_bpe.gguf").string();
  test::write_random_llama(bpe, c);
  const std::vector<uint8_t> b = read_file(bpe);
  const uint64_t b_header = GGUFFile::open(bpe).data_offset();

  const Outcome oa = corrupt_and_load(a, a_header, 11, 2000, 8);
  const Outcome ob = corrupt_and_load(b, b_header, 12, 2000, 8);
  MESSAGE("stories260K: ", oa.loaded, " loaded (", oa.evaluated, " evaluated), ", oa.rejected,
          " refused; BPE model: ", ob.loaded, " loaded (", ob.evaluated, " evaluated), ",
          ob.rejected, " refused");
  // Both outcomes occur: the damage reaches past the first checks, and some of it is caught.
  CHECK(oa.rejected > 0);
  CHECK(ob.rejected > 0);
  CHECK(oa.loaded > 0);
  CHECK(ob.loaded > 0);
  test::check_no_validation_messages();
}
