#include "graph/pretokenize.h"

#include "graph/unicode.h"

namespace vkllm {

namespace {

enum Class : uint8_t { Letter, Number, Space, Other };

struct Text {
  std::vector<Codepoint> cps;
  std::vector<Class> cls;
  uint32_t cp(size_t i) const { return cps[i].cp; }
  bool is(size_t i, Class c) const { return i < cls.size() && cls[i] == c; }
  bool newline(size_t i) const {
    return i < cps.size() && (cps[i].cp == '\r' || cps[i].cp == '\n');
  }
};

Text classify(std::string_view s) {
  Text t;
  t.cps = utf8_codepoints(s);
  t.cls.reserve(t.cps.size());
  for (const Codepoint& c : t.cps)
    t.cls.push_back(is_letter(c.cp)       ? Letter
                    : is_number(c.cp)     ? Number
                    : is_whitespace(c.cp) ? Space
                                          : Other);
  return t;
}

// Length of the contraction 's 't 're 've 'm 'll 'd at i (ASCII letters, any case where
// `fold`), else 0.
size_t contraction(const Text& t, size_t i, size_t end, bool fold) {
  if (t.cp(i) != '\'' || i + 1 >= end) return 0;
  auto low = [&](size_t k) {
    const uint32_t c = t.cp(k);
    return fold && c >= 'A' && c <= 'Z' ? c + 32 : c;
  };
  const uint32_t a = low(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= end) return 0;
  const uint32_t b = low(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End of the run of class c from i (at most `end`).
size_t run(const Text& t, size_t i, size_t end, Class c) {
  while (i < end && t.cls[i] == c) ++i;
  return i;
}

// Whitespace at i, by \s+(?!\S) and then \s+: the run, less its last character where a
// non-space follows (that one starts the next piece), but never empty.
size_t space_piece(const Text& t, size_t i, size_t end) {
  const size_t e = run(t, i, end, Space);
  return e < end && e - i >= 2 ? e - 1 : e;
}

// The gpt-2 expression over code points [begin, end) (end is the end of the text for the
// lookahead).
void gpt2(const Text& t, size_t begin, size_t end, std::vector<size_t>& cuts) {
  for (size_t i = begin; i < end;) {
    size_t e = i + contraction(t, i, end, false);
    if (e == i) {
      // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
      const size_t k = t.cp(i) == ' ' && i + 1 < end && !t.is(i + 1, Space) ? i + 1 : i;
      e = t.cls[k] == Space ? space_piece(t, i, end) : run(t, k, end, t.cls[k]);
    }
    cuts.push_back(e);
    i = e;
  }
}

void llama3(const Text& t, std::vector<size_t>& cuts) {
  const size_t n = t.cps.size();
  for (size_t i = 0; i < n;) {
    size_t e = i + contraction(t, i, n, true);
    const Class c = t.cls[i];
    if (e > i) {
    } else if (c == Letter || (!t.newline(i) && c != Number && t.is(i + 1, Letter))) {
      // [^\r\n\p{L}\p{N}]?\p{L}+
      e = run(t, c == Letter ? i : i + 1, n, Letter);
    } else if (c == Number) {
      // \p{N}{1,3}
      e = i + 1;
      while (e < n && e < i + 3 && t.cls[e] == Number) ++e;
    } else if (c == Other || (t.cp(i) == ' ' && t.is(i + 1, Other))) {
      // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
      e = run(t, c == Other ? i : i + 1, n, Other);
      while (t.newline(e)) ++e;
    } else {
      // \s*[\r\n]+ (up to the run's last line break), else \s+(?!\S), else \s+.
      const size_t r = run(t, i, n, Space);
      e = i;
      for (size_t k = i; k < r; ++k)
        if (t.newline(k)) e = k + 1;
      if (e == i) e = space_piece(t, i, n);
    }
    cuts.push_back(e);
    i = e;
  }
}

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  if (name == "gpt-2") return PreTokenizer::Gpt2;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::Llama3;
  if (name == "smollm") return PreTokenizer::SmolLM;
  return std::nullopt;
}

std::string pre_tokenizer_names() {
  return "gpt-2, llama-bpe, smollm";
}

std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer pre) {
  const Text t = classify(text);
  std::vector<size_t> cuts;  // code point index where each piece ends
  switch (pre) {
    case PreTokenizer::Gpt2:
      gpt2(t, 0, t.cps.size(), cuts);
      break;
    case PreTokenizer::Llama3:
      llama3(t, cuts);
      break;
    case PreTokenizer::SmolLM:
      // Numbers one by one; gpt-2 within each stretch between them, its lookahead ending there.
      for (size_t i = 0; i < t.cps.size();) {
        size_t e = t.cls[i] == Number ? i + 1 : i;
        while (e < t.cps.size() && t.cls[e] != Number) ++e;
        if (e == i + 1 && t.cls[i] == Number)
          cuts.push_back(e);
        else
          gpt2(t, i, e, cuts);
        i = e;
      }
      break;
  }
  std::vector<std::string_view> out;
  out.reserve(cuts.size());
  size_t start = 0;
  for (size_t c : cuts) {
    const size_t end = c < t.cps.size() ? t.cps[c].offset : text.size();
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

}  // namespace vkllm
