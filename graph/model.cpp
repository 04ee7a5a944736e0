#include "graph/model.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string_view>
#include <tuple>

#include "quant/formats.h"
#include "quant/half.h"

namespace vkllm {

namespace {

uint32_t checked_u32(const GGUFFile& f, const std::string& key, uint32_t lo, uint32_t hi) {
  const uint64_t v = f.get_u64(key);
  if (v < lo || v > hi)
    throw ModelError(
        fmt::format("'{}' = {} is outside the supported range [{}, {}]", key, v, lo, hi));
  return static_cast<uint32_t>(v);
}

std::string shape_str(const std::vector<uint64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

// RoPE scaling as llama.cpp reads it: rope.scaling.type (default linear) with rope.scaling.factor
// or the older rope.scale_linear (positions divided by the factor; "none" ignores it), and the
// frequency factors of rope_freqs.weight (Llama 3.1 and later: n_rot / 2 positive values).
// Anything else (YaRN, LongRoPE) is refused rather than run with the wrong positions.
void read_rope_scaling(const GGUFFile& f, LlamaParams& p) {
  const std::string type = f.opt_string("llama.rope.scaling.type").value_or("linear");
  if (type != "linear" && type != "none")
    throw ModelError(
        fmt::format("RoPE scaling '{}' is not supported (vkllm runs 'none' and 'linear')", type));
  float factor = f.opt_f32("llama.rope.scaling.factor").value_or(0.0f);
  if (factor == 0.0f) factor = f.opt_f32("llama.rope.scale_linear").value_or(0.0f);
  if (!std::isfinite(factor) || factor < 0.0f)
    throw ModelError(fmt::format("rope.scaling.factor {} is not a positive number", factor));
  if (type == "linear" && factor != 0.0f) p.rope.scale = 1.0f / factor;

  const GGUFTensorInfo* t = f.find_tensor("rope_freqs.weight");
  if (!t) return;
  if (t->ne != std::vector<uint64_t>{p.n_rot / 2})
    throw ModelError(fmt::format("tensor 'rope_freqs.weight' has shape {}, expected {{{}}}",
                                 shape_str(t->ne), p.n_rot / 2));
  if (!weight_format(t->type) || t->ne[0] % weight_format(t->type)->block_size != 0)
    throw ModelError(fmt::format("tensor 'rope_freqs.weight' has type {}, which vkllm cannot read",
                                 type_name(t->type)));
  p.rope.factors = dequantize_all(t->type, f.tensor_data(*t), static_cast<int64_t>(t->ne[0]));
  for (float v : p.rope.factors)
    if (!(v > 0.0f) || !std::isfinite(v))
      throw ModelError(
          fmt::format("tensor 'rope_freqs.weight' holds {}, not a positive frequency factor", v));
}

// The tensors a llama model's graph reads (rope_freqs.weight aside: LlamaParams reads it), with
// the shapes they must have.
struct Want {
  std::string name;
  std::vector<uint64_t> ne;
  bool matrix;              // matrices keep their format; vectors (norms) are converted to F32
  bool matmul_only = true;  // read by matmul alone (may be repacked)
};
std::vector<Want> llama_wants(const LlamaParams& p) {
  std::vector<Want> wants;
  const uint64_t E = p.n_embd, KV = p.kv_width(), F = p.n_ff, V = p.n_vocab;
  wants.push_back({"token_embd.weight", {E, V}, true, false});  // gathered by get_rows
  wants.push_back({"output_norm.weight", {E}, false});
  if (!p.tied_output) wants.push_back({"output.weight", {E, V}, true});
  for (uint32_t l = 0; l < p.n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    wants.push_back({b + "attn_norm.weight", {E}, false});
    wants.push_back({b + "attn_q.weight", {E, E}, true});
    wants.push_back({b + "attn_k.weight", {E, KV}, true});
    wants.push_back({b + "attn_v.weight", {E, KV}, true});
    wants.push_back({b + "attn_output.weight", {E, E}, true});
    wants.push_back({b + "ffn_norm.weight", {E}, false});
    wants.push_back({b + "ffn_gate.weight", {E, F}, true});
    wants.push_back({b + "ffn_up.weight", {E, F}, true});
    wants.push_back({b + "ffn_down.weight", {F, E}, true});
  }
  return wants;
}

// Every tensor of the file must be one the graph reads: an unknown one (biases, experts, another
// variant's weights) would be silently left out of the computation (llama.cpp refuses too).
void check_no_unknown_tensors(const GGUFFile& f, const LlamaParams& p) {
  const std::vector<Want> wants = llama_wants(p);
  std::set<std::string_view> known{"rope_freqs.weight"};
  for (const Want& w : wants) known.insert(w.name);
  for (const GGUFTensorInfo& t : f.tensors())
    if (!known.count(t.name))
      throw ModelError(fmt::format(
          "tensor '{}' is not part of a llama model vkllm can run (a variant it does not support)",
          t.name));
}

}  // namespace

LlamaParams LlamaParams::from_gguf(const GGUFFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama")
    throw ModelError(fmt::format("unsupported architecture '{}' (vkllm runs: llama)", arch));
  LlamaParams p;
  p.n_embd = checked_u32(f, "llama.embedding_length", 1, 1 << 16);
  p.n_layer = checked_u32(f, "llama.block_count", 1, 1024);
  p.n_ff = checked_u32(f, "llama.feed_forward_length", 1, 1 << 20);
  p.n_head = checked_u32(f, "llama.attention.head_count", 1, 1024);
  p.n_head_kv = f.has("llama.attention.head_count_kv")
                    ? checked_u32(f, "llama.attention.head_count_kv", 1, p.n_head)
                    : p.n_head;
  if (p.n_embd % p.n_head != 0)
    throw ModelError(
        fmt::format("embedding_length {} is not a multiple of head_count {}", p.n_embd, p.n_head));
  if (p.n_head % p.n_head_kv != 0)
    throw ModelError(
        fmt::format("head_count {} is not a multiple of head_count_kv {}", p.n_head, p.n_head_kv));
  p.head_dim = p.n_embd / p.n_head;
  if (p.head_dim > 256)
    throw ModelError(fmt::format("head dimension {} is over the supported 256", p.head_dim));
  p.n_rot = f.has("llama.rope.dimension_count")
                ? checked_u32(f, "llama.rope.dimension_count", 2, p.head_dim)
                : p.head_dim;
  if (p.n_rot % 2 != 0) throw ModelError(fmt::format("rope.dimension_count {} is odd", p.n_rot));
  p.n_ctx_train =
      f.has("llama.context_length") ? checked_u32(f, "llama.context_length", 1, 1u << 24) : 2048;
  if (auto v = f.opt_f32("llama.rope.freq_base")) p.rope.base = *v;
  if (auto v = f.opt_f32("llama.attention.layer_norm_rms_epsilon")) p.rms_eps = *v;
  if (!(p.rope.base > 0.0f) || !std::isfinite(p.rope.base))
    throw ModelError(fmt::format("rope.freq_base {} is not a positive number", p.rope.base));
  read_rope_scaling(f, p);
  if (auto n = f.opt_u64("llama.expert_count"); n && *n > 0)
    throw ModelError(
        fmt::format("mixture-of-experts models (expert_count {}) are not supported", *n));
  if (!(p.rms_eps >= 0.0f) || !std::isfinite(p.rms_eps))
    throw ModelError(fmt::format("layer_norm_rms_epsilon {} is not valid", p.rms_eps));

  const GGUFTensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb) throw ModelError("required tensor 'token_embd.weight' is missing");
  if (emb->ne.size() != 2 || emb->ne[0] != p.n_embd || emb->ne[1] > (1u << 24))
    throw ModelError(
        fmt::format("tensor 'token_embd.weight' has shape {}, expected {{{}, n_vocab}}",
                    shape_str(emb->ne), p.n_embd));
  p.n_vocab = static_cast<uint32_t>(emb->ne[1]);
  p.tied_output = f.find_tensor("output.weight") == nullptr;
  check_no_unknown_tensors(f, p);
  return p;
}

LlamaWeights::LlamaWeights(rt::Context& ctx, const Ops& ops, const GGUFFile& f,
                           const LlamaParams& p,
                           const std::function<void(uint64_t, uint64_t)>& progress,
                           uint64_t max_buffer_bytes) {
  const uint64_t limit = max_buffer_bytes ? max_buffer_bytes : ctx.info().max_storage_buffer_range;
  const std::vector<Want> wants = llama_wants(p);
  const uint64_t E = p.n_embd, KV = p.kv_width(), F = p.n_ff;
  uint64_t total = 0;
  std::vector<const GGUFTensorInfo*> infos;
  for (const Want& w : wants) {
    const GGUFTensorInfo* t = f.find_tensor(w.name);
    if (!t) throw ModelError(fmt::format("required tensor '{}' is missing", w.name));
    if (t->ne != w.ne)
      throw ModelError(fmt::format("tensor '{}' has shape {}, expected {}", w.name,
                                   shape_str(t->ne), shape_str(w.ne)));
    // The supports contract: a type is runnable iff quant/formats.h has a WeightFormat for it.
    const WeightFormat* wf = weight_format(t->type);
    if (!wf) {
      std::string names;
      for (const WeightFormat& s : weight_formats())
        names += (names.empty() ? "" : ", ") + std::string(s.name);
      throw ModelError(
          fmt::format("tensor '{}' has type {}, which vkllm cannot run (supported: {})", w.name,
                      type_name(t->type), names));
    }
    if (t->ne[0] % wf->block_size != 0)
      throw ModelError(
          fmt::format("tensor '{}' has rows of {} elements, not a multiple of the {} block size {}",
                      w.name, t->ne[0], wf->name, wf->block_size));
    infos.push_back(t);
    total += t->n_bytes;
  }
  // Fusions: a layer's q, k and v matrices become one [E + 2 KV] x E matrix (one product instead
  // of three, with RoPE and the KV write in it where Ops::rope_kv_fusable, else rope_kv reads the
  // column slices), and where matmul can fuse the SwiGLU, gate and up become one [2F] x E matrix
  // of interleaved gate/up rows (Ops::matmul glu). Both need the parts to share a type that is
  // kept as stored in the file.
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < wants.size(); ++i) index[wants[i].name] = i;
  auto same_type = [&](std::initializer_list<std::string> names) {
    const GGMLType t0 = infos[index.at(*names.begin())]->type;
    for (const auto& n : names) {
      const GGUFTensorInfo* t = infos[index.at(n)];
      if (t->type != t0 || (t->type == GGMLType::F16 && t->ne[0] % 2 != 0)) return false;
    }
    return true;
  };
  // A joined matrix must fit one buffer (the planar layout adds at most an alignment gap and the
  // scale padding of 7 rows: kept under 64 KiB of margin for the matrices llama models have).
  auto fits = [&](GGMLType type, uint64_t rows, uint64_t cols) {
    const uint64_t bytes = row_bytes(type, cols).value_or(0) * rows;
    return bytes > 0 && limit > 65536 && bytes <= limit - 65536;
  };
  struct Load {
    std::string name;
    std::vector<size_t> parts;  // indices into wants
    bool interleave = false;    // rows alternate between the (two) parts
  };
  std::vector<Load> loads;
  std::vector<bool> fused(wants.size(), false);
  for (uint32_t l = 0; l < p.n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    const std::string q = b + "attn_q.weight", k = b + "attn_k.weight", v = b + "attn_v.weight";
    if (same_type({q, k, v}) && fits(infos[index[q]]->type, E + 2 * KV, E))
      loads.push_back({b + "attn_qkv.weight", {index[q], index[k], index[v]}});
    const std::string g = b + "ffn_gate.weight", u = b + "ffn_up.weight";
    if (same_type({g, u})) {
      const GGMLType t = infos[index[g]]->type;
      const auto M = static_cast<uint32_t>(2 * F), K = static_cast<uint32_t>(E);
      if (fits(t, 2 * F, E) && ops.glu_supported(t, ops.weight_layout(t, M, K), M, K))
        loads.push_back({b + "ffn_gate_up.weight", {index[g], index[u]}, true});
    }
  }
  for (const Load& ld : loads)
    for (size_t i : ld.parts) fused[i] = true;
  for (size_t i = 0; i < wants.size(); ++i)
    if (!fused[i]) loads.push_back({wants[i].name, {i}});

  uint64_t done = 0;
  for (const Load& ld : loads) {
    const size_t i0 = ld.parts[0];
    const GGUFTensorInfo* t = infos[i0];
    std::vector<std::span<const uint8_t>> file_data;
    for (size_t i : ld.parts) file_data.push_back(f.tensor_data(*infos[i]));
    std::span<const uint8_t> data = file_data[0];
    GGMLType type = t->type;
    uint64_t rows = t->ne.size() > 1 ? t->ne[1] : 1;
    const uint64_t cols = t->ne[0];
    std::vector<uint8_t> joined;
    std::vector<float> widened;
    if (ld.parts.size() > 1) {
      // Rows of the parts, back to back or alternating.
      const uint64_t rb = *row_bytes(type, cols);
      rows = 0;
      for (size_t i : ld.parts) rows += infos[i]->ne[1];
      joined.resize(rows * rb);
      if (ld.interleave) {
        for (uint64_t r = 0; r < rows / 2; ++r)
          for (size_t j = 0; j < 2; ++j)
            std::memcpy(joined.data() + (2 * r + j) * rb, file_data[j].data() + r * rb, rb);
      } else {
        uint64_t at = 0;
        for (const auto& fd : file_data) {
          std::memcpy(joined.data() + at, fd.data(), fd.size());
          at += fd.size();
        }
      }
      data = joined;
    } else if (!wants[i0].matrix && type != GGMLType::F32) {
      // Norm weights are read by the F32 kernels only: other formats are converted at load.
      widened = dequantize_all(type, data, static_cast<int64_t>(t->n_elements));
    } else if (type == GGMLType::F16 && cols % 2 != 0) {
      // The F16 kernels read pairs of halves per 32-bit word, so rows of odd length would start
      // mid-word: such (rare) matrices are widened to F32 at load.
      widened.resize(t->n_elements);
      for (uint64_t e = 0; e < t->n_elements; ++e) {
        uint16_t h;
        std::memcpy(&h, data.data() + 2 * e, 2);
        widened[e] = fp16_to_fp32(h);
      }
    }
    if (!widened.empty()) {
      data = {reinterpret_cast<const uint8_t*>(widened.data()), widened.size() * 4};
      type = GGMLType::F32;
    }
    // The bytes a piece of `n` rows takes in its buffer, as stored or repacked.
    // Matrices only matmul reads, and a tied embedding (the output product reads it too, and
    // get_rows gathers from the planar layout as well).
    const bool repack =
        wants[i0].matrix && widened.empty() &&
        (wants[i0].matmul_only || (ld.name == "token_embd.weight" && p.tied_output));
    auto layout_of = [&](uint64_t n) {
      return repack ? ops.weight_layout(type, static_cast<uint32_t>(n), static_cast<uint32_t>(cols))
                    : WeightLayout::AsStored;
    };
    auto piece_bytes = [&](uint64_t n) {
      return layout_of(n) == WeightLayout::Planar
                 ? planar_shape(type, n, cols, ops.planar_params(type)).total_bytes
                 : data.size() / rows * n;
    };
    // Rows per piece: all of them, or for the vocabulary-sized matrices (the embedding table and
    // the output product, which graph/ops split by rows) the most, in multiples of 256 (whole
    // planar tiles), that fit one buffer and at most 64 MiB (a piece's file pages and its buffer
    // are resident together while it is repacked: peak memory stays near the file's size).
    uint64_t per_piece = rows;
    if (piece_bytes(rows) > limit) {
      const uint64_t piece_limit = std::min<uint64_t>(limit, 64u << 20);
      const std::string& name = ld.name;
      if (name != "token_embd.weight" && name != "output.weight")
        throw ModelError(fmt::format(
            "tensor '{}' takes {} bytes, over the device's largest buffer binding ({} bytes)", name,
            piece_bytes(rows), limit));
      per_piece = std::min<uint64_t>(rows, piece_limit / (data.size() / rows)) / 256 * 256;
      while (per_piece > 0 && piece_bytes(per_piece) > piece_limit) per_piece -= 256;
      if (per_piece == 0)
        throw ModelError(
            fmt::format("tensor '{}' has rows too long for the device's largest "
                        "buffer binding ({} bytes)",
                        name, limit));
    }
    const WeightLayout layout = layout_of(per_piece);
    std::vector<Piece> pieces;
    const uint64_t rb = data.size() / rows;
    for (uint64_t r0 = 0; r0 < rows; r0 += per_piece) {
      const uint64_t n = std::min(per_piece, rows - r0);
      if (layout_of(n) != layout)
        throw ModelError(
            fmt::format("tensor '{}': its last piece of {} rows cannot take the "
                        "layout of the others",
                        ld.name, n));
      const std::span<const uint8_t> part = data.subspan(r0 * rb, n * rb);
      const std::string label =
          pieces.empty() && n == rows ? ld.name : fmt::format("{}#{}", ld.name, pieces.size());
      rt::Buffer buf;
      if (layout == WeightLayout::Planar) {
        const PlanarParams pp = ops.planar_params(type);
        const PlanarShape ps = planar_shape(type, n, cols, pp);
        buf = ctx.create_buffer(ps.total_bytes, label.c_str());
        // Repack straight into the buffer where it is host-visible, else through a host copy.
        std::vector<uint8_t> host(buf.mapped() ? 0 : ps.total_bytes);
        std::span<uint8_t> dst = buf.mapped() ? std::span<uint8_t>(buf.mapped(), ps.total_bytes)
                                              : std::span<uint8_t>(host);
        repack_planar(type, part, n, cols, pp, dst);
        if (!host.empty()) ctx.upload(buf, 0, host.data(), host.size());
      } else {
        // In chunks, each chunk's file pages dropped once copied (a no-op off the mapping), so a
        // large tensor costs its buffer and one chunk of file pages at a time.
        buf = ctx.create_buffer(part.size(), label.c_str());
        constexpr uint64_t kChunk = 16u << 20;
        for (uint64_t at = 0; at < part.size(); at += kChunk) {
          const std::span<const uint8_t> chunk =
              part.subspan(at, std::min(kChunk, part.size() - at));
          ctx.upload(buf, at, chunk.data(), chunk.size());
          f.release(chunk);
        }
      }
      f.release(part);  // a split matrix's file pages go piece by piece (no-op off the mapping)
      pieces.push_back({std::move(buf), static_cast<uint32_t>(r0), static_cast<uint32_t>(n)});
    }
    // On unified-memory devices (lavapipe, integrated GPUs) the buffer is host memory too: drop
    // the mapped file pages now so peak memory stays near the file size.
    for (size_t j = 0; j < ld.parts.size(); ++j) {
      f.release(file_data[j]);
      done += infos[ld.parts[j]]->n_bytes;
    }
    entries_.emplace(ld.name, Entry{type, layout, std::move(pieces)});
    if (progress) progress(done, total);
  }
  bytes_ = total;
}

bool LlamaWeights::has(const std::string& name) const {
  return entries_.count(name) != 0;
}

const LlamaWeights::Entry& LlamaWeights::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw ModelError(fmt::format("tensor '{}' is not loaded", name));
  return it->second;
}

Graph build_llama_graph(const LlamaParams& p, const LlamaWeights& w, const LlamaState& st,
                        uint32_t T, bool all_logits, const Ops* ops) {
  Graph g;
  const uint32_t E = p.n_embd, KV = p.kv_width(), F = p.n_ff, V = p.n_vocab;
  auto W = [&](const std::string& name) {
    const auto& e = w.get(name);
    if (e.pieces.size() != 1)
      throw std::logic_error("build_llama_graph: '" + name + "' is split into pieces");
    return g.weight(name, e.type, e.buffer());
  };
  // Piece i of a matrix that may be split by rows (LlamaWeights::Piece), with its node name.
  auto piece = [&](const std::string& name, size_t i, const std::string& node) {
    const auto& e = w.get(name);
    if (e.pieces.size() == 1) return std::pair{W(name), node};
    return std::pair{g.weight(fmt::format("{}#{}", name, i), e.type, e.pieces.at(i).buffer),
                     fmt::format("{}#{}", node, i)};
  };
  auto act = [&](const std::string& name, uint64_t floats) {
    return g.activation(name, floats * 4);
  };
  auto ext = [&](const std::string& name, const rt::Buffer* b) {
    return g.external(name, b->size(), *b);
  };
  const int step = ext("step", st.step);
  const int ids = g.external("ids", uint64_t{T} * 4, rt::BufferRange(*st.ids, 0, uint64_t{T} * 4));
  // The embedding gather, one dispatch per piece of the table: each writes the rows of the ids
  // it holds, the last also zeros for ids past the vocabulary.
  int x = act("x.embed", uint64_t{T} * E);
  const auto& emb = w.get("token_embd.weight");
  for (size_t i = 0; i < emb.pieces.size(); ++i) {
    const auto [t, node] = piece("token_embd.weight", i, "embed");
    g.add(node,
          GetRowsOp{emb.type, E, T,
                    TablePiece{emb.pieces[i].row0, i + 1 == emb.pieces.size(), emb.layout,
                               emb.pieces[i].rows}},
          {t, ids}, x);
  }

  // The normed input of the products after a norm: h, and for a deferred norm (below) the
  // partial sums of squares the products finish it with.
  struct Normed {
    int h = -1;
    int partials = -1;  // -1: h is normed
    NormInput in;
  };
  // Deferred norms (Ops::NormIn / NormOut) in the decode step (T = 1), where the model has the
  // fused q/k/v and gate/up matrices and every product around a norm can take them: the product
  // before a norm (attention output, FFN down) adds the residual and writes weight * sum with
  // partial sums of squares, the products after it (q/k/v, gate/up, output) scale their sums by
  // the norm factor; no norm dispatches. Otherwise (and for prompt batches, whose kernels would
  // compile twice as long with the norm code) each residual add is fused with the norm after it
  // (add_rms_norm).
  const std::string out_name = p.tied_output ? "token_embd.weight" : "output.weight";
  const Ops::RopeKvShape rs{p.head_dim, p.n_head, p.n_head_kv,      T,         p.n_rot,
                            st.n_ctx,   p.rope,   RopeMode::Normal, st.kv_half};
  bool defer = ops != nullptr && T == 1;
  auto fusable = [&](const std::string& name, uint32_t M, uint32_t K) {
    if (!w.has(name)) return false;
    const auto& e = w.get(name);
    return ops->norm_fusable(e.type, e.layout, M, K);
  };
  for (uint32_t l = 0; defer && l < p.n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    const std::string qkv = b + "attn_qkv.weight";
    defer = fusable(qkv, E + 2 * KV, E) &&
            ops->rope_kv_fusable(w.get(qkv).type, w.get(qkv).layout, E, rs) &&
            fusable(b + "attn_output.weight", E, E) &&
            fusable(b + "ffn_gate_up.weight", 2 * F, E) && fusable(b + "ffn_down.weight", E, F);
  }
  defer = defer && fusable(out_name, V, E);
  auto deferred_partials = [&](const std::string& name, uint32_t n) {
    return act(name + ".partials", uint64_t{T} * n);
  };

  Normed h;
  if (defer) {
    h.partials = deferred_partials("blk.0.attn_norm", Ops::kRmsNormDeferredPartials);
    h.in = {Ops::kRmsNormDeferredPartials, p.rms_eps};
    h.h =
        g.add("blk.0.attn_norm", RmsNormOp{E, T, p.rms_eps, true}, {x, W("blk.0.attn_norm.weight")},
              act("blk.0.attn_norm", uint64_t{T} * E), {h.partials});
  } else {
    h.h = g.add("blk.0.attn_norm", RmsNormOp{E, T, p.rms_eps}, {x, W("blk.0.attn_norm.weight")},
                act("blk.0.attn_norm", uint64_t{T} * E));
  }
  // The src list of a product reading h: the partials last where the norm is deferred.
  auto with_norm = [](std::vector<int> src, const Normed& n) {
    if (n.partials >= 0) src.push_back(n.partials);
    return src;
  };
  const float scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  for (uint32_t l = 0; l < p.n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    auto mm = [&](const std::string& wname, int in, uint32_t M, uint32_t K,
                  const std::string& out) {
      const auto& e = w.get(b + wname);
      return g.add(b + out, MatMulOp{e.type, M, K, T, e.layout}, {W(b + wname), in},
                   act(b + out, uint64_t{T} * M));
    };
    // The product before a norm (output rows E) and the norm: the new residual x and the normed h.
    auto residual_norm = [&](const std::string& wname, int in, uint32_t K, const std::string& out,
                             const std::string& norm, const std::string& norm_w) {
      const int sum = act(norm + ".x", uint64_t{T} * E);
      Normed n;
      if (!defer) {
        const int d = mm(wname, in, E, K, out);
        n.h = g.add(norm, AddRmsNormOp{E, T, p.rms_eps}, {x, d, W(norm_w)},
                    act(norm, uint64_t{T} * E), {sum});
        return std::pair{sum, n};
      }
      const auto& e = w.get(b + wname);
      const uint32_t np = ops->norm_partials(e.type, e.layout, E, T);
      MatMulOp op{e.type, E, K, T, e.layout};
      op.norm_out = true;
      n.partials = deferred_partials(norm, np);
      n.in = {np, p.rms_eps};
      n.h = g.add(b + out + "+" + norm, op, {W(b + wname), in, x, W(norm_w)},
                  act(norm, uint64_t{T} * E), {sum, n.partials});
      return std::pair{sum, n};
    };
    const int kc = ext(b + "k_cache", st.k_cache[l]);
    const int vc = ext(b + "v_cache", st.v_cache[l]);
    int q;
    if (w.has(b + "attn_qkv.weight")) {
      const auto& e = w.get(b + "attn_qkv.weight");
      if (ops && ops->rope_kv_fusable(e.type, e.layout, E, rs)) {
        // One dispatch: the q/k/v product, RoPE on q and k, k and v into the cache.
        q = g.add(b + "qkv_rope_kv", MatMulRopeKvOp{e.type, e.layout, E, rs, h.in},
                  with_norm({W(b + "attn_qkv.weight"), h.h, step}, h),
                  act(b + "q_rope", uint64_t{T} * E), {kc, vc});
      } else {
        // One product for q, k and v; rope_kv reads the three column slices of each token's row.
        const uint32_t QKV = E + 2 * KV;
        const int qkv = mm("attn_qkv.weight", h.h, QKV, E, "qkv");
        q = g.add(b + "rope_kv", RopeKvOp{rs, {QKV, 0, QKV, E, QKV, E + KV}}, {qkv, qkv, qkv, step},
                  act(b + "q_rope", uint64_t{T} * E), {kc, vc});
      }
    } else {
      q = mm("attn_q.weight", h.h, E, E, "q");
      int k = mm("attn_k.weight", h.h, KV, E, "k");
      int v = mm("attn_v.weight", h.h, KV, E, "v");
      // RoPE on q and k, k and v into the cache rows of this batch: one fused dispatch.
      q = g.add(b + "rope_kv", RopeKvOp{rs, {E, 0, KV, 0, KV, 0}}, {q, k, v, step},
                act(b + "q_rope", uint64_t{T} * E), {kc, vc});
    }
    int a = g.add(b + "attention",
                  AttentionOp{p.head_dim, p.n_head, p.n_head_kv, T, st.n_ctx, scale, st.kv_half},
                  {q, kc, vc, step}, act(b + "attn", uint64_t{T} * E));
    std::tie(x, h) = residual_norm("attn_output.weight", a, E, "attn_out", b + "ffn_norm",
                                   b + "ffn_norm.weight");
    int s;
    if (w.has(b + "ffn_gate_up.weight")) {
      // Gate and up rows interleaved in one matrix; the product writes silu(gate) * up.
      const auto& e = w.get(b + "ffn_gate_up.weight");
      MatMulOp op{e.type, 2 * F, E, T, e.layout, true, h.in};
      s = g.add(b + "gate_up_swiglu", op, with_norm({W(b + "ffn_gate_up.weight"), h.h}, h),
                act(b + "swiglu", uint64_t{T} * F));
    } else {
      int gate = mm("ffn_gate.weight", h.h, F, E, "gate");
      int up = mm("ffn_up.weight", h.h, F, E, "up");
      s = g.add(b + "swiglu", SwiGluOp{T * F}, {gate, up}, act(b + "swiglu", uint64_t{T} * F));
    }
    const bool last = l + 1 == p.n_layer;
    std::tie(x, h) =
        residual_norm("ffn_down.weight", s, F, "ffn_out",
                      last ? "output_norm" : fmt::format("blk.{}.attn_norm", l + 1),
                      last ? "output_norm.weight" : fmt::format("blk.{}.attn_norm.weight", l + 1));
  }
  uint32_t rows = T;
  if (!all_logits && T > 1) {
    // Only the last token's logits are needed: take its normed row.
    h.h = g.add("last_row", CopyBytesOp{uint64_t{T - 1} * E * 4, uint64_t{E} * 4}, {h.h},
                act("h.last", E));
    rows = 1;
  }
  // The output product, one per piece of the matrix: for one row of logits each writes its
  // columns in place; for several, into a scratch [rows x piece rows] copied into the logits'
  // column range (the products write rows of M contiguous floats).
  const auto& out_w = w.get(out_name);
  const bool split = out_w.pieces.size() > 1;
  const uint64_t row_bytes = uint64_t{V} * 4;
  const int logits =
      g.external("logits", rows * row_bytes, rt::BufferRange(*st.logits, 0, rows * row_bytes));
  for (size_t i = 0; i < out_w.pieces.size(); ++i) {
    const LlamaWeights::Piece& pc = out_w.pieces[i];
    const auto [t, node] = piece(out_name, i, "output");
    MatMulOp out_op{out_w.type, pc.rows, E, rows, out_w.layout};
    out_op.norm_in = h.in;
    const uint64_t col0 = uint64_t{pc.row0} * 4, cols = uint64_t{pc.rows} * 4;
    int dst = logits;
    if (split && rows == 1)
      dst = g.external(node + ".logits", cols, rt::BufferRange(*st.logits, col0, cols));
    else if (split)
      dst = act(node + ".logits", uint64_t{rows} * pc.rows);
    g.add(node, out_op, with_norm({t, h.h}, h), dst);
    if (split && rows > 1)
      g.add(node + ".copy", CopyRowsOp{rows, cols, cols, col0, row_bytes}, {dst}, logits);
  }
  return g;
}

}  // namespace vkllm
