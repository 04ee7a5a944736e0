#include "graph/tokenizer.h"

#include <fmt/format.h>

#include <queue>
#include <stdexcept>

namespace vkllm {

namespace {

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
constexpr std::string_view kReplacement = "\xef\xbf\xbd";
constexpr int32_t kTypeControl = 3;
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

}  // namespace

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
    if (b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
  }
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

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) out.push_back(vocab_.bos);
  if (text.empty()) return out;

  std::string s;
  s.reserve(text.size() * 2 + 3);
  if (vocab_.add_space_prefix) s += kSpace;
  for (char c : text) {
    if (c == ' ')
      s += kSpace;
    else
      s += c;
  }

  // Symbols: one per UTF-8 character (an invalid byte is a symbol of its own), in a linked list.
  struct Symbol {
    int prev, next;
    size_t start, len;
  };
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

  // Repeatedly merge the adjacent pair whose concatenation is the best-scoring vocabulary entry
  // (leftmost on ties). Stale queue entries are recognised by their length.
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view piece(s.data() + sym[left].start, sym[left].len + sym[right].len);
    const int32_t id = find(piece);
    if (id >= 0) queue.push({left, right, vocab_.scores[id], piece.size()});
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
  for (int i = 0; i >= 0; i = sym[i].next)
    emit(std::string_view(s.data() + sym[i].start, sym[i].len), out);
  return out;
}

std::string Tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  const int32_t type = vocab_.types[id];
  if (type == kTypeControl) return {};
  const std::string& t = vocab_.tokens[id];
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
  if (after_bos_ && p[0] == ' ') p.erase(0, 1);
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
