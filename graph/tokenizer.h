// Tokenizers of GGUF vocabularies, independent of the file format (graph/engine.h builds the Vocab
// from GGUF metadata):
// - SentencePiece-style (tokenizer.ggml.model = "llama"): score-driven merges of UTF-8
//   characters, byte fallback <0xXX>, a leading-space prefix, BOS.
// - byte-level BPE (tokenizer.ggml.model = "gpt2": Llama 3, SmolLM2): the text's bytes as GPT-2's
//   printable characters, cut into pieces by the pre-tokenizer (graph/pretokenize.h), then ranked
//   merges within each piece.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "graph/pretokenize.h"

namespace vkllm {

struct Vocab {
  std::vector<std::string> tokens;  // pieces with U+2581 for spaces; byte tokens "<0x0A>"
  std::vector<float> scores;        // empty: all 0
  std::vector<int32_t> types;       // GGUF token types (1 normal, 2 unknown, 3 control,
                                    // 4 user-defined, 5 unused, 6 byte); empty: all normal
  int32_t bos = 1, eos = 2, unk = 0;
  bool add_bos = true;
  bool add_space_prefix = true;
  // Byte-level BPE: tokens are byte-level strings, `merges` the "left right" pairs best first.
  bool bpe = false;
  std::vector<std::string> merges;
  PreTokenizer pre = PreTokenizer::Gpt2;
  bool ignore_merges = false;  // a piece that is a token as a whole is that token (Llama 3)
  // Besides eos, the tokens that end a generation (end of turn, end of message); the Tokenizer
  // adds the control tokens named <|eot_id|>, <|eom_id|>, <|im_end|>, <|end|>, <end_of_turn> and
  // <|endoftext|>.
  std::vector<int32_t> eog;
};

// GPT-2's byte-level alphabet: byte b as a printable character (UTF-8), as byte-level BPE
// vocabularies spell their tokens.
const std::string& byte_level_char(uint8_t b);

class Tokenizer {
 public:
  // Throws std::runtime_error when the vocabulary is inconsistent (sizes differ, bos/eos/unk
  // outside it, empty). Empty scores mean all 0, empty types all normal.
  explicit Tokenizer(Vocab v);

  // Token ids of `text`, BOS first if add_bos. The text of a user-defined token always becomes
  // that token, and with parse_special also that of a control or unknown token ("<s>",
  // "<|eot_id|>"), longest first, as llama.cpp does; the text between them is tokenized as usual
  // (SentencePiece: with the space prefix at the start and after each such token).
  std::vector<int32_t> encode(std::string_view text, bool add_bos,
                              bool parse_special = false) const;
  // Concatenated pieces without control tokens; the space the prefix added is removed.
  std::string decode(std::span<const int32_t> ids) const;
  // Raw bytes of one token: U+2581 -> ' ', <0xXX> -> that byte, control tokens -> "".
  std::string piece(int32_t id) const;

  int32_t n_vocab() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos() const { return vocab_.bos; }
  int32_t eos() const { return vocab_.eos; }
  // Whether a generation ends at `id`: eos or one of vocab().eog.
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const;
  const Vocab& vocab() const { return vocab_; }

 private:
  int32_t find(std::string_view piece) const;
  void emit(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_spm(std::string_view text, bool space_prefix, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  // The merges of one pre-tokenized piece, spelled in byte-level characters.
  void merge_bpe(const std::string& word, std::vector<int32_t>& out) const;

  Vocab vocab_;
  // Transparent hashing: lookups by string_view without building a std::string.
  struct PieceHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, PieceHash, std::equal_to<>> ids_;
  std::array<int32_t, 256> byte_ids_{};
  std::vector<int32_t> specials_;  // control, user-defined and unknown tokens, longest text first
  std::unordered_map<std::string, int32_t, PieceHash, std::equal_to<>> merge_rank_;  // "a b"
  std::unordered_map<uint32_t, uint8_t> byte_of_char_;  // byte-level character -> byte
};

// Streaming detokenizer: push ids, get back only complete UTF-8. With a leading-space prefix
// (SentencePiece) the first piece after BOS loses its leading space, as llama2.c does.
class Detokenizer {
 public:
  explicit Detokenizer(const Tokenizer& t) : tok_(t) {}
  std::string push(int32_t id);
  // Whatever is pending; an incomplete sequence becomes U+FFFD.
  std::string flush();

 private:
  std::string drain(bool final);
  const Tokenizer& tok_;
  std::string pending_;
  bool after_bos_ = false;
};

}  // namespace vkllm
