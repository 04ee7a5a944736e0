// SentencePiece tokenizer on the real stories260K vocabulary (from the GGUF file, and the same
// vocabulary from llama2.c's tok512.bin through a test-only reader), against an independent plain
// O(n^2) reference of the same algorithm (llama2.c's best-pair merge loop).
#include <doctest/doctest.h>

#include <map>

#include "graph/engine.h"
#include "graph/tokenizer.h"
#include "quant/gguf.h"
#include "support/vk_test.h"
#include "support/vocab_loader.h"

using namespace vkllm;

namespace {

const Tokenizer& tok() {
  static Tokenizer t = load_tokenizer(GGUFFile::open(test::shared_path("models/stories260K.gguf")));
  return t;
}

// The same vocabulary from llama2.c's tokenizer file: independent of the GGUF reader.
const Tokenizer& tok2() {
  static Tokenizer t(test::load_vocab_from_llama2c(test::shared_path("models/tok512.bin")));
  return t;
}

// A long prompt: the priority-queue merge must agree with the quadratic reference on it too.
std::string long_text() {
  std::string s;
  for (int i = 0; i < 60; ++i)
    s += "Once upon a time, there was a little girl named Lily. She liked to play outside.\n";
  return s;
}

// Reference: split into UTF-8 characters, then repeatedly merge the best-scoring adjacent pair
// (leftmost on ties) until none is in the vocabulary; unknown symbols fall back to byte tokens.
std::vector<int32_t> reference_encode(const Vocab& v, const std::string& text) {
  std::map<std::string, int32_t> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ids.emplace(v.tokens[i], static_cast<int32_t>(i));
  std::string s = text.empty() ? "" : "\xe2\x96\x81";
  for (char c : text) s += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
  std::vector<std::string> sym;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
    if (i + len > s.size()) len = 1;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) len = 1;
    sym.push_back(s.substr(i, len));
    i += len;
  }
  while (true) {
    float best = -1e30f;
    int at = -1;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = ids.find(sym[i] + sym[i + 1]);
      if (it != ids.end() && v.scores[it->second] > best) {
        best = v.scores[it->second];
        at = static_cast<int>(i);
      }
    }
    if (at < 0) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + at + 1);
  }
  std::vector<int32_t> out{v.bos};
  for (const auto& p : sym) {
    auto it = ids.find(p);
    if (it != ids.end()) {
      out.push_back(it->second);
      continue;
    }
    for (unsigned char c : p) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", c);
      out.push_back(ids.at(name));
    }
  }
  return out;
}

const std::vector<std::string> kStrings = {
    "Once upon a time",
    "Lily's mom said, \"Lily, let's go to the park.\"",
    "  leading and  double  spaces ",
    "line one\nline two\n\ttabbed",
    "caf\xc3\xa9 na\xc3\xafve",  // é, ï: byte fallback in a 512-token vocabulary
    "\xe6\x97\xa5\xe6\x9c\xac",  // 日本
    "emoji \xf0\x9f\x99\x82!",   // 🙂
    "a",
    "The quick brown fox jumps over the lazy dog. 1234567890",
};

}  // namespace

TEST_CASE("tokenizer: tok512.bin and the GGUF file hold the same vocabulary") {
  const Vocab& a = tok().vocab();
  const Vocab& b = tok2().vocab();
  REQUIRE(a.tokens.size() == 512);
  CHECK(a.tokens == b.tokens);
  CHECK(a.scores == b.scores);
  CHECK(a.types == b.types);
  CHECK(a.bos == 1);
  CHECK(a.eos == 2);
  CHECK(a.unk == 0);
}

TEST_CASE("tokenizer: encoding matches the plain reference algorithm") {
  for (const Tokenizer* t : {&tok(), &tok2()}) {
    for (const auto& s : kStrings) {
      INFO("text: " << s);
      CHECK(t->encode(s, true) == reference_encode(t->vocab(), s));
    }
    const std::string big = long_text();
    const auto ids = t->encode(big, true);
    CHECK(ids == reference_encode(t->vocab(), big));
    CHECK(t->decode(ids) == big);
  }
  // A 300 KB prompt: quick with the priority queue (the quadratic loop would take minutes).
  std::string huge;
  for (int i = 0; i < 60; ++i) huge += long_text();
  CHECK(tok().decode(tok().encode(huge, true)) == huge);
}

TEST_CASE("tokenizer: frozen ids, each checked by decoding its piece") {
  // Frozen after checking every piece by hand (below); the quadratic reference above, which is
  // llama2.c's encode() loop, gives the same ids.
  CHECK(tok().encode("Once upon a time", true) == std::vector<int32_t>{1, 403, 407, 261, 378});
  CHECK(tok().encode("Hello world", true) == std::vector<int32_t>{1, 346, 306, 414, 263, 304, 341});
  CHECK(tok().encode("Lily and Tom were friends.", false) ==
        std::vector<int32_t>{317, 269, 274, 287, 382, 276, 374, 419, 426});
  CHECK(tok().piece(403) == " Once");
  CHECK(tok().piece(407) == " upon");
  CHECK(tok().piece(261) == " a");
  CHECK(tok().piece(378) == " time");
  CHECK(tok().piece(346) == " He");
  CHECK(tok().piece(306) == "ll");
  CHECK(tok().piece(414) == "o");
  CHECK(tok().piece(1).empty());   // control
  CHECK(tok().piece(13) == "\n");  // <0x0A>
  CHECK(tok().vocab().tokens[13] == "<0x0A>");
}

TEST_CASE("tokenizer: encode then decode gives the text back, UTF-8 and invalid bytes included") {
  for (const auto& s : kStrings) {
    INFO("text: " << s);
    CHECK(tok().decode(tok().encode(s, true)) == s);
  }
  const std::string invalid = "bad \xff\xfe bytes \xc3";
  CHECK(tok().decode(tok().encode(invalid, false)) == invalid);
}

TEST_CASE("tokenizer: known ids for a frozen example; BOS handling") {
  // Pieces of "Once upon a time" in stories260K's vocabulary, checked by decoding each piece.
  const auto ids = tok().encode("Once upon a time", true);
  REQUIRE(ids.size() >= 2);
  CHECK(ids[0] == 1);
  std::string joined;
  for (size_t i = 1; i < ids.size(); ++i) joined += tok().piece(ids[i]);
  CHECK(joined == " Once upon a time");
  CHECK(ids.size() < 10);  // merged into words, not characters
  CHECK(tok().encode("", true) == std::vector<int32_t>{1});
  CHECK(tok().encode("", false).empty());
  CHECK(tok().encode("x", false)[0] != 1);
  // Byte fallback: U+65E5 is not a piece of this vocabulary, so it becomes its three bytes.
  const auto e = tok().encode("\xe6\x97\xa5", false);
  REQUIRE(e.size() == 4);
  CHECK(tok().vocab().tokens[e[1]] == "<0xE6>");
  CHECK(tok().vocab().tokens[e[2]] == "<0x97>");
  CHECK(tok().vocab().tokens[e[3]] == "<0xA5>");
}

TEST_CASE("detokenizer: multi-byte characters are emitted only when complete") {
  Detokenizer d(tok());
  const auto ids = tok().encode("\xf0\x9f\x99\x82", false);  // ▁ then 4 byte tokens
  REQUIRE(ids.size() == 5);
  CHECK(d.push(ids[0]) == " ");
  CHECK(d.push(ids[1]).empty());
  CHECK(d.push(ids[2]).empty());
  CHECK(d.push(ids[3]).empty());
  CHECK(d.push(ids[4]) == "\xf0\x9f\x99\x82");
  CHECK(d.flush().empty());
}

TEST_CASE("detokenizer: streaming a whole prompt gives decode()'s text; bad bytes become U+FFFD") {
  const std::vector<std::string> texts = {"Once upon a time", long_text(),
                                          "caf\xc3\xa9 \xf0\x9f\x99\x82\n", "  two"};
  for (const std::string& s : texts) {
    Detokenizer d(tok());
    std::string out;
    for (int32_t id : tok().encode(s, true)) out += d.push(id);
    out += d.flush();
    CHECK(out == s);
  }
  Detokenizer d(tok());
  std::string out;
  for (int32_t id : tok().encode("a\xff", false)) out += d.push(id);
  CHECK(out == " a\xef\xbf\xbd");  // no BOS: the prefix space stays
  CHECK(d.flush().empty());
}

TEST_CASE("detokenizer: a dangling lead byte becomes U+FFFD; the space after BOS is dropped") {
  Detokenizer d(tok());
  const auto ids = tok().encode("Once \xe6\x97\xa5", true);  // BOS, pieces, 3 byte tokens
  std::string out;
  for (size_t i = 0; i + 1 < ids.size(); ++i) out += d.push(ids[i]);  // leave the last byte out
  CHECK(out == "Once ");
  CHECK(d.flush() == "\xef\xbf\xbd");
}

TEST_CASE("tokenizer: inconsistent vocabularies are rejected") {
  Vocab v;
  CHECK_THROWS_AS(Tokenizer{v}, std::runtime_error);
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.scores = {0.0f};
  CHECK_THROWS_WITH_AS(Tokenizer{v}, "tokenizer: 1 scores for 3 tokens", std::runtime_error);
  v.scores = {0, 0, 0};
  v.types = {2, 3};
  CHECK_THROWS_AS(Tokenizer{v}, std::runtime_error);
  v.types = {2, 3, 3};
  v.bos = 7;
  CHECK_THROWS_WITH_AS(Tokenizer{v}, "tokenizer: bos id 7 is outside the vocabulary of 3 tokens",
                       std::runtime_error);
  v.bos = 1;
  v.unk = -1;
  CHECK_THROWS_AS(Tokenizer{v}, std::runtime_error);
  v.unk = 0;
  CHECK_NOTHROW(Tokenizer{v});
}

TEST_CASE("tokenizer: a tiny hand-made vocabulary; unk when there is no byte token") {
  Vocab v;
  v.tokens = {"<unk>",
              "<s>",
              "</s>",
              "\xe2\x96\x81",
              "a",
              "b",
              "ab",
              "\xe2\x96\x81"
              "ab",
              "<0x63>"};
  v.scores = {0, 0, 0, -1, -1, -1, -2, -3, 0};
  v.types = {2, 3, 3, 1, 1, 1, 1, 1, 6};
  Tokenizer t(v);
  // "▁ab": "ab" (-2) merges before "▁ab" (-3) can form, then "▁"+"ab" -> "▁ab".
  CHECK(t.encode("ab", true) == std::vector<int32_t>{1, 7});
  // 'c' only has a byte token, 'd' has neither: unk.
  CHECK(t.encode("abcd", false) == std::vector<int32_t>{7, 8, 0});
  CHECK(t.decode(std::vector<int32_t>{1, 7, 8, 2}) == "abc");
  // Ties go to the leftmost pair: "aaa" with only "aa" merges the first two.
  Vocab w;
  w.tokens = {"<unk>", "<s>", "</s>", "a", "aa"};
  w.add_space_prefix = false;
  Tokenizer u(w);
  CHECK(u.encode("aaa", false) == std::vector<int32_t>{4, 3});
  CHECK(u.decode(u.encode("aaa", false)) == "aaa");
}

// Expected ids from llama.cpp (node-llama-cpp 3.22.1, `model.tokenize(text, specialTokens)`) on
// stories260K: control and unknown token texts become those tokens only when asked, and the
// space prefix comes back after each.
TEST_CASE("tokenizer: special token texts in the prompt, as llama.cpp parses them") {
  struct Case {
    const char* text;
    std::vector<int32_t> special, plain;
  };
  const std::vector<Case> cases = {
      {"<s>Once</s> upon<unk>",
       {1, 403, 2, 410, 407, 0},
       {410, 504, 419, 505, 441, 416, 331, 504, 492, 419, 505, 407, 504, 379, 433, 505}},
      {"Once upon</s>", {403, 407, 2}, {403, 407, 504, 492, 419, 505}},
      {"</s></s>x", {2, 2, 410, 444}, {410, 504, 492, 419, 505, 504, 492, 419, 505, 444}},
      {"a<s>b", {261, 1, 268}, {261, 504, 419, 505, 430}},
      {" <s> spaced </s> ",
       {410, 410, 1, 410, 262, 427, 412, 429, 266, 410, 2, 410, 410},
       {410, 410, 504, 419, 505, 262, 427, 412, 429, 266, 410, 504, 492, 419, 505, 410}},
  };
  for (const Case& c : cases) {
    INFO("text: " << c.text);
    CHECK(tok().encode(c.text, false, true) == c.special);
    CHECK(tok().encode(c.text, false, false) == c.plain);
    CHECK(tok().decode(c.plain) == c.text);
  }
}

TEST_CASE("tokenizer: user-defined tokens always match; end-of-turn tokens end a generation") {
  Vocab v;
  v.tokens = {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "b", "<tool>", "<|im_end|>", "<|end|>"};
  v.types = {2, 3, 3, 1, 1, 4, 3, 1};  // <|end|> is not a control token here
  v.add_space_prefix = false;
  Tokenizer t(v);
  CHECK(t.encode("b<tool>b", false, false) == std::vector<int32_t>{4, 5, 4});
  CHECK(t.encode("<|im_end|>", false, true) == std::vector<int32_t>{6});
  CHECK(t.is_eog(2));
  CHECK(t.is_eog(6));
  CHECK_FALSE(t.is_eog(7));
  CHECK_FALSE(t.is_eog(4));
  v.eog = {4};
  CHECK(Tokenizer(v).is_eog(4));
  v.eog = {99};
  CHECK_THROWS_WITH_AS(Tokenizer{v}, doctest::Contains("end-of-generation id 99"),
                       std::runtime_error);
}
