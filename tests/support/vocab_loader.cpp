#include "support/vocab_loader.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace vkllm::test {

namespace {

bool is_byte_piece(const std::string& s) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
  };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

}  // namespace

Vocab load_vocab_from_llama2c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (data.size() - at < n) throw std::runtime_error(path + ": truncated tokenizer file");
    std::memcpy(dst, data.data() + at, n);
    at += n;
  };
  int32_t max_len = 0;
  take(&max_len, 4);
  if (max_len <= 0) throw std::runtime_error(path + ": bad max_token_length");

  Vocab v;
  while (at < data.size()) {
    float score = 0.0f;
    int32_t len = 0;
    take(&score, 4);
    take(&len, 4);
    if (len < 0 || len > max_len)
      throw std::runtime_error(path + ": token length " + std::to_string(len) + " out of range");
    std::string raw(static_cast<size_t>(len), '\0');
    take(raw.data(), raw.size());
    const int32_t id = static_cast<int32_t>(v.tokens.size());
    int32_t type = 1;
    std::string piece;
    if (id == 0) {
      piece = "<unk>";
      type = 2;
    } else if (id == 1) {
      piece = "<s>";
      type = 3;
    } else if (id == 2) {
      piece = "</s>";
      type = 3;
    } else if (is_byte_piece(raw)) {
      piece = raw;
      type = 6;
    } else {
      for (char c : raw) piece += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
    }
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (v.tokens.size() < 3) throw std::runtime_error(path + ": fewer than 3 tokens");
  v.bos = 1;
  v.eos = 2;
  v.unk = 0;
  return v;
}

}  // namespace vkllm::test
