#include "graph/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <queue>
#include <stdexcept>

#include "graph/unicode.h"

namespace vkllm {

namespace {

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
constexpr std::string_view kReplacement = "\xef\xbf\xbd";
constexpr int32_t kTypeUnknown = 2;
constexpr int32_t kTypeControl = 3;
constexpr int32_t kTypeUserDefined = 4;
constexpr int32_t kTypeByte = 6;

// Length of the UTF-8 sequence a lead byte starts, or 0 for a byte that cannot lead one.
size_t utf8_len(uint8_t c) {
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;  // continuation byte or overlong lead
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  if (c < 0xF5) return 4;
  return 0;
}

bool is_cont(uint8_t c) {
  return (c & 0xC0) == 0x80;
}

// "<0xAB>" -> 0xAB, else -1.
int parse_byte_token(const std::string& s) {
  if (s.size() != 6 || s.compare(0, 3, "<0x") != 0 || s[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = s[i];
    v *= 16;
    if (c >= '0' && c <= '9')
      v += c - '0';
    else if (c >= 'A' && c <= 'F')
      v += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      v += c - 'a' + 10;
    else
      return -1;
  }
  return v;
}

// A symbol of a word being merged: a range of its bytes, linked to its neighbours.
struct Symbol {
  int prev, next;
  size_t start, len;
};

// Repeatedly merges the adjacent pair of symbols (of text s) with the highest
// priority(left, right), leftmost on ties, while any pair has one (nullopt: the pair does not
// merge). Merged-away symbols keep len 0; stale queue entries are recognised by their length.
template <class Priority>
void merge_pairs(std::string_view s, std::vector<Symbol>& sym, Priority priority) {
  struct Bigram {
    int left, right;
    float priority;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::optional<float> p = priority(s.substr(sym[left].start, sym[left].len),
                                            s.substr(sym[right].start, sym[right].len));
    if (p) queue.push({left, right, *p, sym[left].len + sym[right].len});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size || l.next != b.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
}

// GPT-2's bytes_to_unicode: the printable bytes ! .. ~, U+00A1 .. U+00AC and U+00AE .. U+00FF
// stand for themselves, the others (controls, space, U+007F .. U+00A0, U+00AD) for U+0100 on, in
// byte order.
const std::array<std::string, 256>& byte_level_table() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[b] = utf8_encode(printable ? b : next++);
    }
    return t;
  }();
  return table;
}

}  // namespace

const std::string& byte_level_char(uint8_t b) {
  return byte_level_table()[b];
}

Tokenizer::Tokenizer(Vocab v) : vocab_(std::move(v)) {
  const size_t n = vocab_.tokens.size();
  if (n == 0) throw std::runtime_error("tokenizer: the vocabulary is empty");
  if (vocab_.scores.empty()) vocab_.scores.assign(n, 0.0f);
  if (vocab_.types.empty()) vocab_.types.assign(n, 1);
  if (vocab_.scores.size() != n)
    throw std::runtime_error(
        fmt::format("tokenizer: {} scores for {} tokens", vocab_.scores.size(), n));
  if (vocab_.types.size() != n)
    throw std::runtime_error(
        fmt::format("tokenizer: {} token types for {} tokens", vocab_.types.size(), n));
  for (auto [name, id] : {std::pair{"bos", vocab_.bos}, {"eos", vocab_.eos}, {"unk", vocab_.unk}})
    if (id < 0 || static_cast<size_t>(id) >= n)
      throw std::runtime_error(
          fmt::format("tokenizer: {} id {} is outside the vocabulary of {} tokens", name, id, n));
  byte_ids_.fill(-1);
  ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    ids_.emplace(vocab_.tokens[i], static_cast<int32_t>(i));  // first occurrence wins
    const int b = parse_byte_token(vocab_.tokens[i]);
    if (!vocab_.bpe && b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
  }
  for (int32_t id : vocab_.eog)
    if (id < 0 || static_cast<size_t>(id) >= n)
      throw std::runtime_error(fmt::format(
          "tokenizer: end-of-generation id {} is outside the vocabulary of {} tokens", id, n));
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = vocab_.types[i];
    const std::string& text = vocab_.tokens[i];
    if ((t == kTypeControl || t == kTypeUserDefined || t == kTypeUnknown) && !text.empty())
      specials_.push_back(static_cast<int32_t>(i));
    // End-of-turn control tokens by name, as llama.cpp finds them (converters do not always
    // write their ids).
    if (t == kTypeControl &&
        (text == "<|eot_id|>" || text == "<|eom_id|>" || text == "<|im_end|>" ||
         text == "<|end|>" || text == "<end_of_turn>" || text == "<|endoftext|>"))
      vocab_.eog.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    return vocab_.tokens[a].size() > vocab_.tokens[b].size();
  });
  if (!vocab_.bpe) return;
  for (uint32_t b = 0; b < 256; ++b)
    byte_of_char_.emplace(utf8_codepoints(byte_level_char(static_cast<uint8_t>(b)))[0].cp,
                          static_cast<uint8_t>(b));
  merge_rank_.reserve(vocab_.merges.size());
  for (size_t i = 0; i < vocab_.merges.size(); ++i) {
    const std::string& m = vocab_.merges[i];
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos || sp + 1 >= m.size() || m.find(' ', sp + 1) != std::string::npos)
      throw std::runtime_error(
          fmt::format("tokenizer: merge {} ('{}') is not two pieces split by a space", i, m));
    merge_rank_.emplace(m, static_cast<int32_t>(i));  // the first of duplicates ranks
  }
}

bool Tokenizer::is_eog(int32_t id) const {
  return id == vocab_.eos ||
         std::find(vocab_.eog.begin(), vocab_.eog.end(), id) != vocab_.eog.end();
}

bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < n_vocab() && vocab_.types[id] == kTypeControl;
}

int32_t Tokenizer::find(std::string_view piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

void Tokenizer::emit(std::string_view piece, std::vector<int32_t>& out) const {
  if (int32_t id = find(piece); id >= 0) {
    out.push_back(id);
    return;
  }
  for (unsigned char c : piece) out.push_back(byte_ids_[c] >= 0 ? byte_ids_[c] : vocab_.unk);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos) out.push_back(vocab_.bos);
  // Fragments: a special token's id, or text (id -1). Each special token, longest first, splits
  // the text fragments at its occurrences.
  struct Fragment {
    int32_t id;
    std::string_view text;
  };
  std::vector<Fragment> frags;
  if (!text.empty()) frags.push_back({-1, text});
  for (int32_t sid : specials_) {
    if (!parse_special && vocab_.types[sid] != kTypeUserDefined) continue;
    const std::string& st = vocab_.tokens[sid];
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      size_t at = 0;
      for (size_t hit; (hit = f.text.find(st, at)) != std::string_view::npos;
           at = hit + st.size()) {
        if (hit > at) next.push_back({-1, f.text.substr(at, hit - at)});
        next.push_back({sid, {}});
      }
      if (at < f.text.size()) next.push_back({-1, f.text.substr(at)});
    }
    frags = std::move(next);
  }
  bool after_special = true;  // SentencePiece's prefix: at the start and after a special token
  for (const Fragment& f : frags) {
    if (f.id >= 0)
      out.push_back(f.id);
    else if (vocab_.bpe)
      encode_bpe(f.text, out);
    else
      encode_spm(f.text, vocab_.add_space_prefix && after_special, out);
    after_special = f.id >= 0;
  }
  return out;
}

void Tokenizer::encode_spm(std::string_view text, bool space_prefix,
                           std::vector<int32_t>& out) const {
  std::string s;
  s.reserve(text.size() * 2 + 3);
  if (space_prefix) s += kSpace;
  for (char c : text) {
    if (c == ' ')
      s += kSpace;
    else
      s += c;
  }

  // Symbols: one per UTF-8 character (an invalid byte is a symbol of its own), merged by the
  // best-scoring vocabulary entry their concatenation is.
  std::vector<Symbol> sym;
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_len(static_cast<uint8_t>(s[i]));
    if (len == 0 || i + len > s.size()) len = 1;
    for (size_t k = 1; k < len; ++k)
      if (!is_cont(static_cast<uint8_t>(s[i + k]))) len = 1;
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, -1, i, len});
    if (idx > 0) sym[idx - 1].next = idx;
    i += len;
  }
  merge_pairs(s, sym, [&](std::string_view l, std::string_view r) -> std::optional<float> {
    const int32_t id = find(std::string_view(l.data(), l.size() + r.size()));
    if (id < 0) return std::nullopt;
    return vocab_.scores[id];
  });
  for (int i = 0; i >= 0; i = sym[i].next)
    emit(std::string_view(s.data() + sym[i].start, sym[i].len), out);
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  std::string word;
  for (std::string_view piece : pre_tokenize(text, vocab_.pre)) {
    word.clear();
    for (unsigned char c : piece) word += byte_level_char(c);
    if (int32_t id = vocab_.ignore_merges ? find(word) : -1; id >= 0)
      out.push_back(id);
    else
      merge_bpe(word, out);
  }
}

void Tokenizer::merge_bpe(const std::string& word, std::vector<int32_t>& out) const {
  // Symbols: the word's characters, merged by the best (lowest) merge rank.
  std::vector<Symbol> sym;
  for (const Codepoint& c : utf8_codepoints(word)) {
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, -1, c.offset, c.len});
    if (idx > 0) sym[idx - 1].next = idx;
  }
  std::string key;
  merge_pairs(word, sym, [&](std::string_view l, std::string_view r) -> std::optional<float> {
    key.assign(l);
    key += ' ';
    key.append(r);
    auto it = merge_rank_.find(key);
    if (it == merge_rank_.end()) return std::nullopt;
    return -static_cast<float>(it->second);  // exact: ranks stay far below 2^24
  });
  // A merged symbol missing from the vocabulary (an inconsistent file) falls back to its bytes'
  // characters, and a character missing too to the unknown token.
  for (int i = 0; i >= 0 && !sym.empty(); i = sym[i].next) {
    const std::string_view s(word.data() + sym[i].start, sym[i].len);
    if (int32_t id = find(s); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (const Codepoint& c : utf8_codepoints(s)) {
      const int32_t id = find(s.substr(c.offset, c.len));
      out.push_back(id >= 0 ? id : vocab_.unk);
    }
  }
}

std::string Tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  const int32_t type = vocab_.types[id];
  if (type == kTypeControl) return {};
  const std::string& t = vocab_.tokens[id];
  if (vocab_.bpe) {
    // Byte-level characters back to their bytes; others (user-defined tokens) as they are.
    std::string out;
    for (const Codepoint& c : utf8_codepoints(t)) {
      auto it = byte_of_char_.find(c.cp);
      if (it != byte_of_char_.end())
        out += static_cast<char>(it->second);
      else
        out.append(t, c.offset, c.len);
    }
    return out;
  }
  if (type == kTypeByte) {
    const int b = parse_byte_token(t);
    if (b >= 0) return std::string(1, static_cast<char>(b));
  }
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += t[i++];
    }
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    std::string p = piece(id);
    if (p.empty()) continue;
    if (first && vocab_.add_space_prefix && p[0] == ' ') p.erase(0, 1);
    first = false;
    out += p;
  }
  return out;
}

std::string Detokenizer::push(int32_t id) {
  if (id == tok_.bos()) {
    after_bos_ = true;
    return {};
  }
  std::string p = tok_.piece(id);
  if (p.empty()) return {};
  if (after_bos_ && tok_.vocab().add_space_prefix && p[0] == ' ') p.erase(0, 1);
  after_bos_ = false;
  pending_ += p;
  return drain(false);
}

std::string Detokenizer::flush() {
  return drain(true);
}

std::string Detokenizer::drain(bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const size_t len = utf8_len(static_cast<uint8_t>(pending_[i]));
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t have = 1;
    while (have < len && i + have < pending_.size() &&
           is_cont(static_cast<uint8_t>(pending_[i + have])))
      ++have;
    if (have == len) {
      out.append(pending_, i, len);
      i += len;
    } else if (i + have == pending_.size() && !final) {
      break;  // a valid start of a character that is not complete yet
    } else {
      out += kReplacement;
      i += have;
    }
  }
  pending_.erase(0, i);
  return out;
}

}  // namespace vkllm
