// vkllm tokenize: a model's token ids for a text (no device needed), for checking prompts and
// comparing tokenizers.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "apps/common.h"
#include "graph/engine.h"
#include "graph/tokenizer.h"
#include "quant/gguf.h"

namespace vkllm::app {

namespace {

struct TokenizeOptions {
  std::string model, prompt, file;
  bool no_bos = false, pieces = false, no_special = false;
};

void tokenize(const TokenizeOptions& o) {
  const std::string path = o.model.empty() ? default_model_path() : o.model;
  std::string text = o.prompt;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot open", o.file));
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  GGUFFile file = open_model_file(path);
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = std::make_unique<Tokenizer>(load_tokenizer(file));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
  const std::vector<int32_t> ids =
      tok->encode(text, tok->vocab().add_bos && !o.no_bos, !o.no_special);
  if (o.pieces) {
    for (int32_t id : ids) std::printf("%d\t\"%s\"\n", id, json_escape(tok->piece(id)).c_str());
  } else {
    std::string line;
    for (int32_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "print the token ids of a text (BOS first where the model adds one), no device needed");
  cmd->add_option("-m,--model", o->model, "GGUF model (default: the embedded stories260K)");
  auto* p = cmd->add_option("-p,--prompt", o->prompt, "the text");
  cmd->add_option("-f,--file", o->file, "read the text from a file (exactly, newlines included)")
      ->excludes(p);
  cmd->add_flag("--no-bos", o->no_bos, "leave out the BOS token");
  cmd->add_flag("--no-special", o->no_special,
                "take the text of control tokens (\"<s>\", \"<|eot_id|>\") as plain text");
  cmd->add_flag("--pieces", o->pieces,
                "one token per line: its id and its text as a JSON string (control tokens empty)");
  cmd->callback([o] { tokenize(*o); });
}

}  // namespace vkllm::app
