// UTF-8 code points and the character classes the BPE pre-tokenizers split text by (letters
// \p{L}, numbers \p{N}, White_Space; tables generated from the Unicode database by
// scripts/gen_unicode_tables.py).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm {

struct Codepoint {
  uint32_t cp;      // U+FFFD for a byte that does not start a valid sequence
  uint32_t offset;  // of its first byte in the text
  uint32_t len;     // its bytes (1 for an invalid byte)
};
// The text's code points in order; invalid bytes become U+FFFD of one byte each, so the lengths
// always add up to the text's size.
std::vector<Codepoint> utf8_codepoints(std::string_view text);
// UTF-8 of `cp` (< 0x110000, not a surrogate).
std::string utf8_encode(uint32_t cp);

bool is_letter(uint32_t cp);
bool is_number(uint32_t cp);
bool is_whitespace(uint32_t cp);

}  // namespace vkllm
