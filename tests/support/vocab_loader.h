// Test-only reader for llama2.c's tokenizer file (tokenizer.bin / tok512.bin), converted to the
// GGUF conventions of vkllm::Vocab, so tokenizer tests have a source independent of the GGUF
// reader.
#pragma once
#include <string>

#include "graph/tokenizer.h"

namespace vkllm::test {

// Layout: int32 max_token_length, then per token: f32 score, int32 len, len bytes; the number of
// tokens is whatever the file holds. Spaces become U+2581, "<0xXX>" pieces get type 6 (byte),
// id 0 is the unknown token "<unk>", ids 1 and 2 are the control tokens "<s>" and "</s>" (llama2.c
// stores them as "\n<s>\n" and "\n</s>\n"). Throws std::runtime_error on a missing or truncated
// file.
Vocab load_vocab_from_llama2c(const std::string& path);

}  // namespace vkllm::test
