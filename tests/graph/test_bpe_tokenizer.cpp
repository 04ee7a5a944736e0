// Byte-level BPE (GGUF tokenizer.ggml.model = "gpt2"): the pre-tokenizers against pieces from
// Python's `regex` module applying the models' expressions, and whole encodings against the ids
// llama.cpp (node-llama-cpp 3.22.1, `model.tokenize`) gave for the same texts on the same
// synthetic vocabularies (`vkllm make-model --preset 260K --tokenizer NAME`: a vocabulary learned
// from graph/synthetic.cpp's built-in text, identical for every seed).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "graph/engine.h"
#include "graph/pretokenize.h"
#include "graph/synthetic.h"
#include "graph/tokenizer.h"
#include "quant/gguf.h"
#include "support/scratch.h"

using namespace vkllm;

namespace {

struct Split {
  const char* text;
  std::vector<std::string> pieces;
};

void check_splits(PreTokenizer pre, const std::vector<Split>& cases) {
  for (const Split& c : cases) {
    INFO("text: " << c.text);
    std::vector<std::string> got;
    for (std::string_view p : pre_tokenize(c.text, pre)) got.emplace_back(p);
    CHECK(got == c.pieces);
  }
}

// The texts the ids below were taken for (shared by the three vocabularies).
const char* const kTexts[] = {
    "Once upon a time, there was a little girl named Lily.",
    "  leading spaces and trailing   ",
    "tabs\tand\t\ttabs\nline\n\nbreaks\r\nCRLF\n",
    "don't you're we'll I'VE HE'D she's 'tis",
    "numbers 1 12 123 1234 12345 3.14159 1,000,000 a1b2",
    "punct!!! ??? ... --- (a) [b] {c} \"q\"",
    "Caf\u00e9 na\u00efve Stra\u00dfe \u4f60\u597d\uff0c\u4e16\u754c \U0001f600 "
    "\u041f\u0440\u0438\u0432\u0435\u0442",
    "\u00a0nbsp\u2003em e\u0301 \u0661\u00b2\u216b",
    "!\n\nabc  ! 123\t!",
};

// The synthetic 260K model's tokenizer with the given pre-tokenizer (the file holds F32 weights
// too; only its vocabulary is read).
Tokenizer bpe_tokenizer(const std::string& pre) {
  SyntheticLlamaConfig cfg = *synthetic_preset("260K");
  cfg.tokenizer = pre;
  const std::string path = (test::scratch_dir() / ("bpe-" + pre + ".gguf")).string();
  write_synthetic_llama(path, cfg);
  return load_tokenizer(GGUFFile::open(path));
}

void check_ids(const std::string& pre, const std::vector<std::vector<int32_t>>& want) {
  const Tokenizer t = bpe_tokenizer(pre);
  REQUIRE(want.size() == std::size(kTexts));
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("pre-tokenizer " << pre << ", text " << i << ": " << kTexts[i]);
    CHECK(t.encode(kTexts[i], false) == want[i]);
    CHECK(t.decode(want[i]) == kTexts[i]);
  }
}

}  // namespace

TEST_CASE("pretokenize: gpt-2 pieces match the regular expression's") {
  check_splits(PreTokenizer::Gpt2,
               {
                   {"  leading spaces and trailing   ",
                    {" ", " leading", " spaces", " and", " trailing", "   "}},
                   {"tabs\tand\t\ttabs\nline\n\nbreaks\r\nCRLF\n",
                    {"tabs", "\t", "and", "\t", "\t", "tabs", "\n", "line", "\n", "\n", "breaks",
                     "\r", "\n", "CRLF", "\n"}},
                   {"don't you're we'll I'VE HE'D she's 'tis",
                    {"don", "'t", " you", "'re", " we", "'ll", " I", "'", "VE", " HE", "'", "D",
                     " she", "'s", " '", "tis"}},
                   {"numbers 1 12 123 1234 12345 3.14159 1,000,000 a1b2",
                    {"numbers", " 1", " 12", " 123", " 1234", " 12345", " 3", ".", "14159", " 1",
                     ",", "000", ",", "000", " a", "1", "b", "2"}},
                   {"punct!!! ??? ... --- (a) [b] {c} \"q\"",
                    {"punct", "!!!", " ???", " ...", " ---", " (", "a", ")", " [", "b", "]", " {",
                     "c", "}", " \"", "q", "\""}},
                   {"Caf\u00e9 na\u00efve Stra\u00dfe \u4f60\u597d\uff0c\u4e16\u754c \U0001f600 "
                    "\u041f\u0440\u0438\u0432\u0435\u0442",
                    {"Caf\u00e9", " na\u00efve", " Stra\u00dfe", " \u4f60\u597d", "\uff0c",
                     "\u4e16\u754c", " \U0001f600", " \u041f\u0440\u0438\u0432\u0435\u0442"}},
                   {"\u00a0nbsp\u2003em e\u0301 \u0661\u00b2\u216b",
                    {"\u00a0", "nbsp", "\u2003", "em", " e", "\u0301", " \u0661\u00b2\u216b"}},
                   {"!\n\nabc  ! 123\t!", {"!", "\n", "\n", "abc", " ", " !", " 123", "\t", "!"}},
               });
}

TEST_CASE("pretokenize: llama-bpe (Llama 3) pieces match the regular expression's") {
  check_splits(
      PreTokenizer::Llama3,
      {
          {"  leading spaces and trailing   ",
           {" ", " leading", " spaces", " and", " trailing", "   "}},
          {"tabs\tand\t\ttabs\nline\n\nbreaks\r\nCRLF\n",
           {"tabs", "\tand", "\t", "\ttabs", "\n", "line", "\n\n", "breaks", "\r\n", "CRLF", "\n"}},
          {"don't you're we'll I'VE HE'D she's 'tis",
           {"don", "'t", " you", "'re", " we", "'ll", " I", "'VE", " HE", "'D", " she", "'s", " '",
            "tis"}},
          {"numbers 1 12 123 1234 12345 3.14159 1,000,000 a1b2",
           {"numbers", " ",   "1",  " ",   "12", " ", "123", " ",  "123", "4",
            " ",       "123", "45", " ",   "3",  ".", "141", "59", " ",   "1",
            ",",       "000", ",",  "000", " a", "1", "b",   "2"}},
          {"punct!!! ??? ... --- (a) [b] {c} \"q\"",
           {"punct", "!!!", " ???", " ...", " ---", " (", "a", ")", " [", "b", "]", " {", "c", "}",
            " \"", "q", "\""}},
          {"Caf\u00e9 na\u00efve Stra\u00dfe \u4f60\u597d\uff0c\u4e16\u754c \U0001f600 "
           "\u041f\u0440\u0438\u0432\u0435\u0442",
           {"Caf\u00e9", " na\u00efve", " Stra\u00dfe", " \u4f60\u597d", "\uff0c\u4e16\u754c",
            " \U0001f600", " \u041f\u0440\u0438\u0432\u0435\u0442"}},
          {"\u00a0nbsp\u2003em e\u0301 \u0661\u00b2\u216b",
           {"\u00a0nbsp", "\u2003em", " e", "\u0301", " ", "\u0661\u00b2\u216b"}},
          {"!\n\nabc  ! 123\t!", {"!\n\n", "abc", " ", " !", " ", "123", "\t", "!"}},
      });
}

TEST_CASE("pretokenize: smollm pieces match the regular expression's") {
  check_splits(
      PreTokenizer::SmolLM,
      {
          {"  leading spaces and trailing   ",
           {" ", " leading", " spaces", " and", " trailing", "   "}},
          {"tabs\tand\t\ttabs\nline\n\nbreaks\r\nCRLF\n",
           {"tabs", "\t", "and", "\t", "\t", "tabs", "\n", "line", "\n", "\n", "breaks", "\r", "\n",
            "CRLF", "\n"}},
          {"don't you're we'll I'VE HE'D she's 'tis",
           {"don", "'t", " you", "'re", " we", "'ll", " I", "'", "VE", " HE", "'", "D", " she",
            "'s", " '", "tis"}},
          {"numbers 1 12 123 1234 12345 3.14159 1,000,000 a1b2",
           {"numbers", " ", "1", " ", "1", "2", " ", "1", "2", "3",  " ", "1", "2", "3", "4",
            " ",       "1", "2", "3", "4", "5", " ", "3", ".", "1",  "4", "1", "5", "9", " ",
            "1",       ",", "0", "0", "0", ",", "0", "0", "0", " a", "1", "b", "2"}},
          {"punct!!! ??? ... --- (a) [b] {c} \"q\"",
           {"punct", "!!!", " ???", " ...", " ---", " (", "a", ")", " [", "b", "]", " {", "c", "}",
            " \"", "q", "\""}},
          {"Caf\u00e9 na\u00efve Stra\u00dfe \u4f60\u597d\uff0c\u4e16\u754c \U0001f600 "
           "\u041f\u0440\u0438\u0432\u0435\u0442",
           {"Caf\u00e9", " na\u00efve", " Stra\u00dfe", " \u4f60\u597d", "\uff0c", "\u4e16\u754c",
            " \U0001f600", " \u041f\u0440\u0438\u0432\u0435\u0442"}},
          {"\u00a0nbsp\u2003em e\u0301 \u0661\u00b2\u216b",
           {"\u00a0", "nbsp", "\u2003", "em", " e", "\u0301", " ", "\u0661", "\u00b2", "\u216b"}},
          {"!\n\nabc  ! 123\t!",
           {"!", "\n", "\n", "abc", " ", " !", " ", "1", "2", "3", "\t", "!"}},
      });
}

TEST_CASE("bpe tokenizer: gpt-2 ids match llama.cpp's and decode to the text") {
  check_ids("gpt-2",
            {
                {427, 32,  117, 112, 276, 258, 256, 491, 44,  303, 366,
                 258, 284, 116, 116, 495, 32,  484, 281, 451, 346, 46},
                {32, 263, 101, 318, 489, 264, 112, 445, 266, 256, 114, 449, 489, 32, 32, 32},
                {116, 317, 115, 9,   443, 9,   9,   116, 317, 115, 10, 108, 105, 499,
                 10,  10,  98,  260, 97,  107, 115, 13,  10,  67,  82, 76,  70,  10},
                {100, 276, 393, 32, 121, 508, 39,  260, 265, 101, 391, 277, 39,
                 438, 32,  311, 39, 68,  264, 257, 305, 32,  39,  116, 490},
                {110, 117, 109, 465, 115, 294, 294, 50,  294, 50, 51,  294, 50,  51, 52, 294, 50,
                 51,  403, 295, 46,  400, 294, 44,  273, 48,  44, 273, 48,  258, 49, 98, 50},
                {112, 293, 466, 368, 32, 406, 32,  307, 345, 45,  32,  40, 97,
                 41,  32,  91,  98,  93, 32,  123, 99,  125, 344, 113, 34},
                {411, 281, 462, 296, 338, 463, 32,  228, 189, 160, 229, 165, 189,
                 239, 188, 140, 228, 184, 150, 231, 149, 140, 32,  240, 159, 152,
                 128, 351, 159, 341, 340, 208, 178, 208, 181, 209, 130},
                {194, 160, 110, 98, 115, 112, 226, 128, 131, 101, 109, 32,
                 101, 204, 129, 32, 217, 161, 194, 178, 226, 133, 171},
                {33, 10, 10, 317, 99, 32, 32, 33, 294, 50, 51, 9, 33},
            });
}

TEST_CASE("bpe tokenizer: llama-bpe ids match llama.cpp's and decode to the text") {
  check_ids("llama-bpe",
            {
                {437, 32,  117, 112, 276, 258, 256, 500, 44,  302, 364,
                 258, 284, 116, 116, 504, 32,  493, 281, 460, 345, 46},
                {32, 263, 101, 317, 498, 264, 112, 454, 266, 256, 114, 458, 498, 32, 32, 32},
                {116, 316, 115, 9,   452, 9,   9,   116, 316, 115, 10, 108, 105, 508,
                 10,  10,  98,  260, 97,  107, 115, 13,  10,  67,  82, 76,  70,  10},
                {100, 276, 397, 32, 121, 111, 117, 39,  260, 265, 101, 395, 277,
                 399, 32,  310, 39, 68,  264, 257, 304, 32,  39,  116, 499},
                {110, 117, 109, 474, 115, 32,  49,  32, 407, 32, 407, 51, 32,  407, 51, 52, 32, 407,
                 51,  414, 32,  51,  46,  409, 415, 32, 49,  44, 405, 44, 405, 258, 49, 98, 50},
                {112, 294, 475, 367, 32, 418, 32,  306, 344, 45,  32,  40, 97,
                 41,  32,  91,  98,  93, 32,  123, 99,  125, 343, 113, 34},
                {422, 281, 471, 295, 337, 472, 32,  228, 189, 160, 229, 165, 189,
                 239, 188, 140, 228, 184, 150, 231, 149, 140, 32,  240, 159, 152,
                 128, 350, 159, 340, 339, 208, 178, 208, 181, 209, 130},
                {194, 160, 110, 98, 115, 112, 226, 128, 131, 101, 109, 32,
                 101, 204, 129, 32, 217, 161, 194, 178, 226, 133, 171},
                {366, 10, 316, 99, 32, 32, 33, 32, 407, 51, 9, 33},
            });
}

TEST_CASE("bpe tokenizer: smollm ids match llama.cpp's and decode to the text") {
  check_ids("smollm", {
                          {412, 32, 117, 500, 258, 256, 476, 44, 300, 361, 258, 283, 509, 32, 469,
                           280, 436, 342, 46},
                          {32, 263, 101, 314, 474, 264, 499, 266, 256, 114, 434, 474, 32, 32, 32},
                          {116, 313, 115, 9,   428, 9,   9,   116, 313, 115, 10, 108, 105, 484,
                           10,  10,  98,  260, 97,  107, 115, 13,  10,  67,  82, 76,  70,  10},
                          {100, 275, 388, 32, 121, 493, 39,  260, 265, 101, 386, 276, 39,
                           423, 32,  307, 39, 68,  264, 257, 302, 32,  39,  116, 475},
                          {110, 117, 109, 450, 115, 32, 49, 32, 49, 50, 32, 49,  50, 51, 32, 49,
                           50,  51,  52,  32,  49,  50, 51, 52, 53, 32, 51, 46,  49, 52, 49, 53,
                           57,  32,  49,  44,  48,  48, 48, 44, 48, 48, 48, 258, 49, 98, 50},
                          {112, 292, 451, 363, 32, 391, 32,  304, 341, 45,  32,  40, 97,
                           41,  32,  91,  98,  93, 32,  123, 99,  125, 340, 113, 34},
                          {396, 280, 447, 293, 334, 448, 32,  228, 189, 160, 229, 165, 189,
                           239, 188, 140, 228, 184, 150, 231, 149, 140, 32,  240, 159, 152,
                           128, 347, 159, 337, 336, 208, 178, 208, 181, 209, 130},
                          {194, 160, 110, 98, 115, 112, 226, 128, 131, 101, 109, 32,
                           101, 204, 129, 32, 217, 161, 194, 178, 226, 133, 171},
                          {33, 10, 10, 313, 99, 32, 32, 33, 32, 49, 50, 51, 9, 33},
                      });
}
TEST_CASE("bpe tokenizer: any bytes round-trip; BOS from the file; control tokens decode empty") {
  const Tokenizer t = bpe_tokenizer("llama-bpe");
  CHECK(t.vocab().add_bos);
  CHECK_FALSE(t.vocab().add_space_prefix);
  const std::vector<int32_t> with_bos = t.encode("Lily", true);
  REQUIRE(with_bos.size() >= 2);
  CHECK(with_bos[0] == t.bos());
  CHECK(t.piece(t.bos()).empty());
  CHECK(t.decode(with_bos) == "Lily");
  uint32_t s = 12345;
  for (int n = 0; n < 200; ++n) {
    std::string text;
    const int len = 1 + n % 37;
    for (int i = 0; i < len; ++i) {
      s = s * 1664525u + 1013904223u;
      text += static_cast<char>(s >> 24);  // any byte, invalid UTF-8 included
    }
    INFO("case " << n);
    CHECK(t.decode(t.encode(text, false)) == text);
  }
  // Streaming keeps a piece's leading space (no SentencePiece prefix to drop).
  Detokenizer d(t);
  std::string streamed = d.push(t.bos());
  for (int32_t id : t.encode(" upon a time", false)) streamed += d.push(id);
  CHECK(streamed + d.flush() == " upon a time");
}

TEST_CASE("bpe tokenizer: malformed merges and unknown pre-tokenizers are errors") {
  Vocab v;
  v.bpe = true;
  for (uint32_t b = 0; b < 256; ++b) v.tokens.push_back(byte_level_char(static_cast<uint8_t>(b)));
  v.bos = v.eos = v.unk = 0;
  v.merges = {"a b", "ab"};
  CHECK_THROWS_WITH_AS(Tokenizer{v}, doctest::Contains("merge 1 ('ab')"), std::runtime_error);
  CHECK_FALSE(pre_tokenizer_from_name("qwen2").has_value());
  CHECK(pre_tokenizer_from_name("llama3") == PreTokenizer::Llama3);
}

TEST_CASE(
    "bpe tokenizer: control token texts become those tokens only when asked (llama.cpp's ids)") {
  const Tokenizer t = bpe_tokenizer("llama-bpe");
  const char* text = "<|begin_of_text|>Hello<|end_of_text|> world";
  CHECK(t.encode(text, false, true) ==
        std::vector<int32_t>{510, 427, 333, 111, 511, 265, 111, 114, 108, 100});
  CHECK(t.encode(text, false, false) ==
        std::vector<int32_t>{60,  124, 473, 491, 110, 95,  111, 102, 95,  116, 101, 120,
                             116, 124, 62,  427, 333, 111, 60,  124, 481, 95,  111, 102,
                             95,  116, 101, 120, 116, 124, 62,  265, 111, 114, 108, 100});
  CHECK(t.encode("x<|begin_of_text|>", false, true) == std::vector<int32_t>{120, 510});
}
