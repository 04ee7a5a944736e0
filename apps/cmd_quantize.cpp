// vkllm quantize: convert a GGUF model's weight matrices to another format, llama.cpp-style.
// 2-D weights whose rows fit the format's block size are converted; 1-D tensors (norms) and
// anything else are copied unchanged. Progress and a summary go to stderr.
//
// The output is streamed (GGUFWriter::write_streaming): memory holds one tensor in f32 and in its
// new format, and the input's mapped pages are dropped after each tensor.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "apps/common.h"
#include "graph/synthetic.h"
#include "quant/formats.h"
#include "quant/gguf.h"

namespace vkllm::app {

std::string format_names() {
  std::string s;
  for (const WeightFormat& f : weight_formats()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

const WeightFormat& parse_weight_format(const std::string& name, const char* what) {
  const WeightFormat* f = weight_format_by_name(name);
  if (!f)
    throw std::invalid_argument(
        fmt::format("unknown {} '{}' (valid: {})", what, name, format_names()));
  return *f;
}

std::string human_bytes(uint64_t n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  if (u == 0 || v >= 10 || v == static_cast<uint64_t>(v))
    return fmt::format("{:.0f} {}", v, kUnits[u]);
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

namespace {

struct QuantizeOptions {
  std::string in, out, type, output_type, embd_type;
};

// llama.cpp keeps output.weight at higher precision for low-bit types (Q6_K there); vkllm uses
// Q8_0, the simplest 8-bit format. Types of 8 bits or more apply as they are.
GGMLType default_output_type(GGMLType t) {
  switch (t) {
    case GGMLType::F32:
    case GGMLType::F16:
    case GGMLType::BF16:
    case GGMLType::Q8_0:
      return t;
    default:
      return GGMLType::Q8_0;
  }
}

void quantize(const QuantizeOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const GGMLType type = parse_weight_format(o.type, "type").type;
  const GGMLType out_type = o.output_type.empty()
                                ? default_output_type(type)
                                : parse_weight_format(o.output_type, "output type").type;
  const GGMLType embd_type =
      o.embd_type.empty() ? type : parse_weight_format(o.embd_type, "token embedding type").type;
  GGUFFile in = open_model_file(o.in);
  std::error_code ec;
  if (std::filesystem::equivalent(o.in, o.out, ec))
    throw std::invalid_argument(fmt::format("{}: the output would overwrite the input", o.out));
  {  // Fail before the work if the output cannot be created.
    std::FILE* probe = std::fopen(o.out.c_str(), "wb");
    if (!probe)
      throw std::runtime_error(fmt::format("{}: cannot write: {}", o.out, std::strerror(errno)));
    std::fclose(probe);
  }

  GGUFWriter w;
  for (const auto& [key, value] : in.metadata()) w.set_value(key, value);
  if (auto ft = llama_file_type(type)) w.set_u32("general.file_type", *ft);

  // Every tensor's output type is decided first (the header needs them); the bytes are converted
  // one tensor at a time while the file is written.
  const auto& tensors = in.tensors();
  std::vector<GGMLType> dst_types;
  for (const GGUFTensorInfo& t : tensors) {
    GGMLType dst = t.type;
    const bool matrix = t.ne.size() == 2 && t.name.ends_with(".weight");
    if (matrix && weight_format(t.type)) {
      const GGMLType want = t.name == "output.weight"       ? out_type
                            : t.name == "token_embd.weight" ? embd_type
                                                            : type;
      if (t.ne[0] % weight_format(want)->block_size == 0) dst = want;
    }
    try {
      w.add_tensor_info(t.name, dst, t.ne);
    } catch (const GGUFError& e) {
      throw std::runtime_error(fmt::format("{}: {}", o.in, e.what()));
    }
    dst_types.push_back(dst);
  }
  uint64_t in_bytes = 0, out_bytes = 0;
  size_t converted = 0, index = 0;
  const int width = static_cast<int>(std::to_string(tensors.size()).size());
  auto produce = [&](const GGUFTensorInfo&, std::vector<uint8_t>& out) {
    const GGUFTensorInfo& t = tensors[index];
    const GGMLType dst = dst_types[index++];
    const auto src = in.tensor_data(t);
    if (dst == t.type) {
      out.assign(src.begin(), src.end());
    } else {
      const std::vector<float> f32 =
          dequantize_all(t.type, src, static_cast<int64_t>(t.n_elements));
      out = quantize_rows(dst, f32.data(), static_cast<int64_t>(t.n_elements / t.ne[0]),
                          static_cast<int64_t>(t.ne[0]));
      ++converted;
    }
    in.release(src);
    in_bytes += src.size();
    out_bytes += out.size();
    std::fprintf(stderr, "[%*zu/%zu] %-32s %-6s -> %-6s %9s -> %s\n", width, index, tensors.size(),
                 t.name.c_str(), type_name(t.type).c_str(), type_name(dst).c_str(),
                 human_bytes(src.size()).c_str(), human_bytes(out.size()).c_str());
  };
  try {
    w.write_streaming(o.out, produce);
  } catch (const GGUFError& e) {
    throw std::runtime_error(fmt::format("{}: {}", o.out, e.what()));
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr,
               "vkllm: %s: %zu tensors, %zu converted to %s (output %s, token embedding %s); "
               "tensor data %s -> %s (%.2fx); file %s; %.1f s\n",
               o.out.c_str(), tensors.size(), converted, type_name(type).c_str(),
               type_name(out_type).c_str(), type_name(embd_type).c_str(),
               human_bytes(in_bytes).c_str(), human_bytes(out_bytes).c_str(),
               out_bytes ? double(in_bytes) / double(out_bytes) : 0.0,
               human_bytes(std::filesystem::file_size(o.out, ec)).c_str(), s);
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  auto* cmd = app.add_subcommand(
      "quantize",
      "convert a GGUF model's weight matrices to TYPE (llama.cpp-style): 2-D weights whose row "
      "length is a multiple of TYPE's block size become TYPE, norms and other tensors are copied; "
      "all metadata is kept and general.file_type set");
  cmd->add_option("input", o->in, "input GGUF model")->required();
  cmd->add_option("output", o->out, "output GGUF file (overwritten)")->required();
  cmd->add_option("type", o->type, "weight type: " + format_names())->required();
  cmd->add_option("--output-type", o->output_type,
                  "type of output.weight (default: TYPE for F32/F16/BF16/Q8_0, else Q8_0)");
  cmd->add_option("--token-embedding-type", o->embd_type,
                  "type of token_embd.weight (default: TYPE)");
  cmd->callback([o] { quantize(*o); });
}

}  // namespace vkllm::app
