// Malformed GGUF files for tests: every case must be rejected with a GGUFError (and, by the CLI,
// with exit code 1 and a one-line error), never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vkllm::test {

struct MalformedGGUF {
  std::string description;  // e.g. "truncated at byte 17", "tensor 't1' n_dims 5"
  std::string expect;       // substring the error message must contain ("" = any message)
  std::vector<uint8_t> bytes;
};

// The small valid GGUF v3 image (8 metadata keys of various types, 3 tensors) that the corpus
// is derived from.
std::vector<uint8_t> corpus_base_file();

// All malformed variants of corpus_base_file() plus a few stand-alone ones. With
// every_truncation the file is cut at every byte offset of the header, metadata and
// tensor-info sections (several hundred cases); otherwise at a sample of offsets.
std::vector<MalformedGGUF> malformed_corpus(bool every_truncation = true);

// Writes malformed_corpus(every_truncation) into `dir` (created if needed) as
// NNN-<slug>.gguf files; returns (file path, description) for each.
std::vector<std::pair<std::string, std::string>> write_malformed_corpus(
    const std::string& dir, bool every_truncation = false);

}  // namespace vkllm::test
