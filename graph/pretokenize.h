// Pre-tokenizers of byte-level BPE vocabularies (GGUF tokenizer.ggml.pre): text is cut into
// pieces by the model's regular expression before the merges run within each piece. Each is a
// hand-written scanner that gives the same pieces as the expression (as llama.cpp applies it):
//   gpt-2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama-bpe  (Llama 3) (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   smollm     every \p{N} a piece of its own, then gpt-2 within the text between them
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm {

enum class PreTokenizer { Gpt2, Llama3, SmolLM };

// The pre-tokenizer a GGUF tokenizer.ggml.pre value names ("gpt-2"; "llama-bpe", "llama3",
// "llama-v3"; "smollm"), or nullopt.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);
// "gpt-2, llama-bpe, smollm".
std::string pre_tokenizer_names();

// The pieces of `text`, in order; their concatenation is `text`. Invalid UTF-8 bytes are pieces'
// characters of their own class (neither letter, number nor space).
std::vector<std::string_view> pre_tokenize(std::string_view text, PreTokenizer pre);

}  // namespace vkllm
