#include "graph/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <variant>

#include "graph/cost.h"
#include "graph/executor.h"
#include "graph/planner.h"

namespace vkllm {

Engine::Engine(rt::Context& ctx, const GGUFFile& file, const EngineOptions& options)
    : ctx_(ctx), params_(LlamaParams::from_gguf(file)), options_(options) {
  n_ctx_ = options.n_ctx ? options.n_ctx : std::min<uint32_t>(params_.n_ctx_train, 2048);
  if (options_.n_batch == 0) options_.n_batch = 1;
  // Each layer's K and V cache is one buffer bound whole, so a context whose cache does not fit
  // the device's binding range is refused before loading, naming the largest context that fits.
  const uint64_t row_bytes = uint64_t{params_.kv_width()} * Ops::kv_element_bytes(options_.kv_half);
  const uint64_t kv_bytes = uint64_t{n_ctx_} * row_bytes;
  const uint64_t range = ctx.info().max_storage_buffer_range;
  if (range > 0 && kv_bytes > range)
    throw std::runtime_error(fmt::format(
        "a context of {} tokens needs {:.1f} MiB per layer for the {} KV cache, over the device's "
        "{:.0f} MiB buffer range: at most {} tokens fit here{}",
        n_ctx_, kv_bytes / 1048576.0, options_.kv_half ? "f16" : "f32", range / 1048576.0,
        range / row_bytes, options_.kv_half ? "" : " (twice as many with an f16 KV cache)"));
  ops_ = std::make_unique<Ops>(ctx);
  weights_ = std::make_unique<LlamaWeights>(ctx, *ops_, file, params_, options.load_progress,
                                            options.max_weight_buffer);

  const uint32_t max_rows = options_.all_logits ? options_.n_batch : 1;
  step_buf_ = ctx.create_buffer(sizeof(StepParams), "step");
  ids_buf_ = ctx.create_buffer(uint64_t{options_.n_batch} * 4, "ids");
  logits_buf_ = ctx.create_buffer(uint64_t{max_rows} * params_.n_vocab * 4, "logits");
  for (uint32_t l = 0; l < params_.n_layer; ++l) {
    k_cache_.push_back(ctx.create_buffer(kv_bytes, fmt::format("k_cache.{}", l).c_str()));
    v_cache_.push_back(ctx.create_buffer(kv_bytes, fmt::format("v_cache.{}", l).c_str()));
  }
}

Engine::~Engine() = default;

const KernelTuning& Engine::tuning() const {
  return ops_->tuning();
}

Engine::Step& Engine::step_for(uint32_t T) {
  auto it = steps_.find(T);
  if (it != steps_.end()) return *it->second;

  LlamaState st;
  st.step = &step_buf_;
  st.ids = &ids_buf_;
  st.logits = &logits_buf_;
  st.n_ctx = n_ctx_;
  st.kv_half = options_.kv_half;
  for (uint32_t l = 0; l < params_.n_layer; ++l) {
    st.k_cache.push_back(&k_cache_[l]);
    st.v_cache.push_back(&v_cache_[l]);
  }
  auto step = std::make_unique<Step>();
  step->T = T;
  step->graph = build_llama_graph(params_, *weights_, st, T, options_.all_logits, ops_.get());
  // Activations may be bound as storage or texel buffers.
  const uint64_t align = std::max<uint64_t>(
      {ctx_.info().min_storage_offset_alignment, ctx_.info().min_texel_offset_alignment, 64});
  MemoryPlan plan = plan_memory(step->graph, align);
  step->arena = ctx_.create_buffer(plan.arena_bytes, fmt::format("arena.T{}", T).c_str());
  bind_arena(step->graph, plan, step->arena);
  step->seq = std::make_unique<rt::Sequence>(ctx_, options_.timestamps);
  step->seq->begin();
  RecordStats rs = record_graph(step->graph, *ops_, *step->seq);
  step->seq->end();

  ++stats_.graphs_recorded;
  if (T == 1) {
    stats_.decode_dispatches = rs.dispatches;
    stats_.decode_barriers = rs.barriers;
  }
  if (plan.arena_bytes > stats_.arena_bytes) {
    stats_.arena_bytes = plan.arena_bytes;
    stats_.unshared_bytes = plan.unshared_bytes;
  }
  return *steps_.emplace(T, std::move(step)).first->second;
}

std::vector<float> Engine::eval(std::span<const int32_t> tokens) {
  if (tokens.empty()) throw std::invalid_argument("eval: no tokens");
  if (n_past_ + tokens.size() > n_ctx_)
    throw std::out_of_range(fmt::format("{} tokens at position {} do not fit in the context of {}",
                                        tokens.size(), n_past_, n_ctx_));
  for (int32_t t : tokens)
    if (t < 0 || static_cast<uint32_t>(t) >= params_.n_vocab)
      throw std::invalid_argument(
          fmt::format("token id {} is outside the vocabulary (0..{})", t, params_.n_vocab - 1));

  const uint32_t V = params_.n_vocab;
  std::vector<float> out;
  size_t done = 0;
  while (done < tokens.size()) {
    const uint32_t T =
        static_cast<uint32_t>(std::min<size_t>(options_.n_batch, tokens.size() - done));
    Step& step = step_for(T);
    StepParams sp{n_past_, n_past_, {0, 0}};
    ctx_.upload(step_buf_, 0, &sp, sizeof(sp));
    std::vector<uint32_t> ids(tokens.begin() + done, tokens.begin() + done + T);
    ctx_.upload(ids_buf_, 0, ids.data(), ids.size() * 4);
    step.seq->submit_and_wait();
    step.last_pos0 = n_past_;
    step.replayed = true;
    ++stats_.steps_replayed;
    n_past_ += T;
    done += T;
    if (options_.all_logits) {
      const size_t old = out.size();
      out.resize(old + size_t{T} * V);
      ctx_.download(logits_buf_, 0, out.data() + old, uint64_t{T} * V * 4);
    } else if (done == tokens.size()) {
      out.resize(V);
      ctx_.download(logits_buf_, 0, out.data(), uint64_t{V} * 4);
    }
  }
  return out;
}

std::vector<NodeProfile> Engine::profile_last(uint32_t T) const {
  auto it = steps_.find(T);
  if (it == steps_.end() || !it->second->replayed)
    throw std::logic_error(fmt::format("profile_last: no {}-token step has run", T));
  const Step& step = *it->second;
  if (!step.seq->timestamps())
    throw std::logic_error(
        "profile_last: the steps record no timestamps (EngineOptions::timestamps is off or the "
        "device's compute queue has no timestamp queries)");
  const auto timings = step.seq->timings();
  const auto& nodes = step.graph.nodes();
  if (timings.size() != nodes.size() || step.seq->dispatch_count() != nodes.size())
    throw std::logic_error(
        fmt::format("profile_last: {} timestamps and {} recorded commands for {} graph nodes",
                    timings.size(), step.seq->dispatch_count(), nodes.size()));
  std::vector<NodeProfile> out;
  out.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    const NodeCost c = node_cost(step.graph, n, step.last_pos0);
    out.push_back({n.name, op_kind_name(n.op), timings[i].label, node_layer(n.name), timings[i].ms,
                   c.bytes, c.flops});
  }
  return out;
}

Engine::MatvecCeiling Engine::matvec_ceiling(int reps) {
  if (!ctx_.info().timestamps)
    throw std::logic_error("matvec_ceiling: the device's compute queue has no timestamp queries");
  Step& step = step_for(1);
  const Node* best = nullptr;
  uint64_t best_bytes = 0;
  for (const Node& n : step.graph.nodes()) {
    if (!std::holds_alternative<MatMulOp>(n.op)) continue;
    const uint64_t b = step.graph.tensor(n.src.at(0)).bytes;
    if (b > best_bytes) best = &n, best_bytes = b;
  }
  if (!best) throw std::logic_error("matvec_ceiling: the decode step has no matrix product");
  const MatMulOp& o = std::get<MatMulOp>(best->op);
  const uint32_t out_rows = o.glu ? o.M / 2 : o.M;
  rt::Buffer x = ctx_.create_buffer(uint64_t{o.K} * 4, "ceiling.x");
  rt::Buffer y = ctx_.create_buffer(uint64_t{out_rows} * 4, "ceiling.y");
  const std::vector<float> ones(o.K, 1.0f);
  ctx_.upload(x, 0, ones.data(), ones.size() * 4);
  rt::Sequence seq(ctx_, /*timestamps=*/true);
  seq.begin();
  ops_->matmul(seq, o.type, step.graph.tensor(best->src[0]).range, x, y, o.M, o.K, 1, o.layout,
               o.glu);
  seq.end();
  MatvecCeiling c;
  c.node = best->name;
  c.M = o.M;
  c.K = o.K;
  const NodeCost cost = node_cost(step.graph, *best, 0);
  c.bytes = cost.bytes;
  c.flops = cost.flops;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    seq.submit_and_wait();
    const auto t = seq.timings();
    if (t.empty()) continue;
    c.kernel = t[0].label;
    if (c.ms == 0 || t[0].ms < c.ms) c.ms = t[0].ms;
  }
  return c;
}

Tokenizer load_tokenizer(const GGUFFile& f) {
  const auto model = f.opt_string("tokenizer.ggml.model");
  if (!model) throw ModelError("the file has no tokenizer (tokenizer.ggml.model is missing)");
  if (*model != "llama" && *model != "gpt2")
    throw ModelError(
        fmt::format("unsupported tokenizer '{}' (vkllm supports 'llama' (SentencePiece) and "
                    "'gpt2' (byte-level BPE))",
                    *model));
  Vocab v;
  if (*model == "gpt2") {
    // Byte-level BPE: no space prefix and no BOS unless the file asks for them.
    v.bpe = true;
    v.add_bos = false;
    v.add_space_prefix = false;
    if (!f.has("tokenizer.ggml.merges"))
      throw ModelError("the BPE tokenizer has no merges (tokenizer.ggml.merges is missing)");
    v.merges = f.get_string_array("tokenizer.ggml.merges");
    const auto pre = f.opt_string("tokenizer.ggml.pre");
    if (!pre)
      throw ModelError(fmt::format(
          "the BPE tokenizer names no pre-tokenizer (tokenizer.ggml.pre is missing; vkllm "
          "supports {})",
          pre_tokenizer_names()));
    const auto kind = pre_tokenizer_from_name(*pre);
    if (!kind)
      throw ModelError(fmt::format("unsupported pre-tokenizer '{}' (vkllm supports {})", *pre,
                                   pre_tokenizer_names()));
    v.pre = *kind;
    v.ignore_merges = *kind == PreTokenizer::Llama3;
  }
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (f.has("tokenizer.ggml.scores"))
    v.scores = f.get_f32_array("tokenizer.ggml.scores");
  else
    v.scores.assign(v.tokens.size(), 0.0f);
  if (f.has("tokenizer.ggml.token_type"))
    v.types = f.get_i32_array("tokenizer.ggml.token_type");
  else
    v.types.assign(v.tokens.size(), 1);
  auto id = [&](const char* key, int32_t def) {
    auto x = f.opt_u64(key);
    return x && *x < v.tokens.size() ? static_cast<int32_t>(*x) : def;
  };
  v.bos = id("tokenizer.ggml.bos_token_id", 1);
  v.eos = id("tokenizer.ggml.eos_token_id", 2);
  v.unk = id("tokenizer.ggml.unknown_token_id", 0);
  if (auto b = f.opt_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
  if (auto b = f.opt_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix = *b;
  // Generations also end at the end-of-turn and end-of-message tokens (and the Tokenizer adds
  // control tokens named like them).
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (int32_t t = id(key, -1); t >= 0) v.eog.push_back(t);
  try {
    return Tokenizer(std::move(v));
  } catch (const std::exception& e) {
    throw ModelError(fmt::format("bad tokenizer metadata: {}", e.what()));
  }
}

}  // namespace vkllm
