#include "graph/unicode.h"

#include <algorithm>
#include <iterator>

namespace vkllm {

namespace {

struct CodepointRange {
  uint32_t first, last;
};

#include "graph/unicode_tables.inc"

template <size_t N>
bool in_table(const CodepointRange (&table)[N], uint32_t cp) {
  const auto* it =
      std::upper_bound(std::begin(table), std::end(table), cp,
                       [](uint32_t c, const CodepointRange& r) { return c < r.first; });
  return it != std::begin(table) && cp <= std::prev(it)->last;
}

}  // namespace

std::vector<Codepoint> utf8_codepoints(std::string_view s) {
  std::vector<Codepoint> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    uint32_t len = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
    for (uint32_t k = 1; k < len; ++k) {
      const auto d = i + k < s.size() ? static_cast<uint8_t>(s[i + k]) : 0;
      if ((d & 0xC0) != 0x80) {
        len = 0;
        break;
      }
      cp = (cp << 6) | (d & 0x3Fu);
    }
    // Overlong three- and four-byte forms, surrogates and values past U+10FFFF are invalid too.
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      len = 0;
    if (len == 0) {
      out.push_back({0xFFFD, static_cast<uint32_t>(i), 1});
      ++i;
    } else {
      out.push_back({cp, static_cast<uint32_t>(i), len});
      i += len;
    }
  }
  return out;
}

std::string utf8_encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

bool is_letter(uint32_t cp) {
  return in_table(kLetters, cp);
}
bool is_number(uint32_t cp) {
  return in_table(kNumbers, cp);
}
bool is_whitespace(uint32_t cp) {
  return in_table(kWhiteSpace, cp);
}

}  // namespace vkllm
