// vkllm profile: per-op and per-layer GPU time of a prompt step and of decode steps, from
// timestamps written after every node of the recorded command buffers, set against a cost model
// (bytes, FLOPs; graph/cost.h) and the device's measured copy-bandwidth and FMA ceilings
// (runtime/ceilings.h), and the decode step against the matvec ceiling (Engine::matvec_ceiling)
// and the device's measured cost per dispatch.
// Optionally a Chrome/Perfetto trace of the steps laid end to end.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "apps/common.h"
#include "graph/engine.h"
#include "graph/tuning.h"
#include "quant/gguf.h"
#include "runtime/ceilings.h"

namespace vkllm::app {

namespace {

struct ProfileOptions {
  std::string model;
  uint32_t n_prompt = 128;
  uint32_t n_gen = 16;
  std::string trace;
  bool json = false;
  bool remeasure = false;
  DeviceOptions dev;
  CacheOptions cache;
};

// Time and cost summed over a group of nodes (an op kind or a layer), per step.
struct Group {
  uint32_t count = 0;  // nodes per step
  double ms = 0.0;
  double bytes = 0.0;
  double flops = 0.0;
};

// One step's profile averaged over `steps` replays: per-node averages in graph order.
struct StepProfile {
  std::string name;  // "decode", "prompt"
  uint32_t tokens = 0;
  uint32_t steps = 0;
  std::vector<NodeProfile> nodes;
  double total_ms() const {
    double t = 0;
    for (const auto& n : nodes) t += n.ms;
    return t;
  }
};

StepProfile average(std::string name, uint32_t tokens,
                    const std::vector<std::vector<NodeProfile>>& runs) {
  StepProfile p;
  p.name = std::move(name);
  p.tokens = tokens;
  p.steps = static_cast<uint32_t>(runs.size());
  p.nodes = runs.front();
  for (size_t r = 1; r < runs.size(); ++r)
    for (size_t i = 0; i < p.nodes.size(); ++i) {
      p.nodes[i].ms += runs[r].at(i).ms;
      p.nodes[i].bytes += runs[r].at(i).bytes;
      p.nodes[i].flops += runs[r].at(i).flops;
    }
  for (auto& n : p.nodes) {
    n.ms /= p.steps;
    n.bytes /= p.steps;
    n.flops /= p.steps;
  }
  return p;
}

// Groups in first-seen order of their key.
template <class Key, class F>
std::vector<std::pair<Key, Group>> group_by(const StepProfile& p, F&& key) {
  std::vector<std::pair<Key, Group>> out;
  std::map<Key, size_t> at;
  for (const auto& n : p.nodes) {
    const Key k = key(n);
    auto [it, fresh] = at.emplace(k, out.size());
    if (fresh) out.push_back({k, {}});
    Group& g = out[it->second].second;
    ++g.count;
    g.ms += n.ms;
    g.bytes += static_cast<double>(n.bytes);
    g.flops += n.flops;
  }
  return out;
}

struct Rates {
  double pct, gbps, gflops, pct_bw, pct_fma;
};
Rates rates(const Group& g, double step_ms, const rt::Ceilings& c) {
  Rates r{};
  r.pct = step_ms > 0 ? 100.0 * g.ms / step_ms : 0.0;
  r.gbps = g.ms > 0 ? g.bytes / (g.ms * 1e6) : 0.0;
  r.gflops = g.ms > 0 ? g.flops / (g.ms * 1e6) : 0.0;
  r.pct_bw = 100.0 * r.gbps / c.copy_gbps;
  r.pct_fma = 100.0 * r.gflops / c.fma_gflops;
  return r;
}

std::string layer_name(int l) {
  return l < 0 ? std::string("-") : std::to_string(l);
}

std::string human_bytes(double b) {
  if (b >= 1048576.0) return fmt::format("{:.2f} MiB", b / 1048576.0);
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{:.0f} B", b);
}

void print_tables(const StepProfile& p, const rt::Ceilings& c) {
  const double total = p.total_ms();
  fmt::print("\n## {} step ({} token{}, {} dispatches; averaged over {} step{}): {:.3f} ms\n\n",
             p.name, p.tokens, p.tokens == 1 ? "" : "s", p.nodes.size(), p.steps,
             p.steps == 1 ? "" : "s", total);
  const char* header =
      "| {} | count | ms | % of step | bytes | FLOPs | GB/s | GFLOP/s | % copy BW | % FMA |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  auto row = [&](const std::string& key, const Group& g) {
    const Rates r = rates(g, total, c);
    fmt::print("| {} | {} | {:.3f} | {:.1f} | {} | {:.3g} | {:.2f} | {:.2f} | {:.1f} | {:.1f} |\n",
               key, g.count, g.ms, r.pct, human_bytes(g.bytes), g.flops, r.gbps, r.gflops, r.pct_bw,
               r.pct_fma);
  };
  fmt::print(fmt::runtime(header), "op");
  auto ops = group_by<std::string>(p, [](const NodeProfile& n) { return n.kind; });
  std::stable_sort(ops.begin(), ops.end(),
                   [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  for (const auto& [k, g] : ops) row(k, g);
  fmt::print("\n");
  fmt::print(fmt::runtime(header), "layer");
  for (const auto& [l, g] : group_by<int>(p, [](const NodeProfile& n) { return n.layer; }))
    row(layer_name(l), g);
}

void print_json(const StepProfile& p, const rt::Ceilings& c) {
  const double total = p.total_ms();
  fmt::print(
      "{{\"record\":\"step\",\"step\":\"{}\",\"tokens\":{},\"dispatches\":{},\"steps\":{},"
      "\"ms\":{:.6f}}}\n",
      p.name, p.tokens, p.nodes.size(), p.steps, total);
  auto line = [&](const char* record, const std::string& key_field, const Group& g) {
    const Rates r = rates(g, total, c);
    fmt::print(
        "{{\"record\":\"{}\",\"step\":\"{}\",{},\"count\":{},\"ms\":{:.6f},\"pct\":{:.4f},"
        "\"bytes\":{:.0f},\"flops\":{:.0f},\"gbps\":{:.4f},\"gflops\":{:.4f},"
        "\"pct_copy_bw\":{:.4f},\"pct_fma\":{:.4f}}}\n",
        record, p.name, key_field, g.count, g.ms, r.pct, g.bytes, g.flops, r.gbps, r.gflops,
        r.pct_bw, r.pct_fma);
  };
  for (const auto& [k, g] : group_by<std::string>(p, [](const NodeProfile& n) { return n.kind; }))
    line("op", fmt::format("\"kind\":\"{}\"", json_escape(k)), g);
  for (const auto& [l, g] : group_by<int>(p, [](const NodeProfile& n) { return n.layer; }))
    line("layer", fmt::format("\"layer\":{}", l), g);
}

// Chrome/Perfetto trace: one complete ("X") event per dispatch, steps laid end to end.
void write_trace(const std::string& path,
                 const std::vector<std::pair<std::string, std::vector<NodeProfile>>>& steps) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("cannot write the trace file '{}'", path));
  out << "{\"traceEvents\":[";
  double ts_us = 0.0;
  bool first = true;
  for (const auto& [step, nodes] : steps)
    for (const auto& n : nodes) {
      const double dur_us = n.ms * 1000.0;
      out << (first ? "\n" : ",\n")
          << fmt::format(
                 "{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"ts\":{:.3f},\"dur\":{:.3f},"
                 "\"pid\":1,\"tid\":1,\"args\":{{\"step\":\"{}\",\"kernel\":\"{}\",\"layer\":{},"
                 "\"bytes\":{},\"flops\":{:.0f}}}}}",
                 json_escape(n.name), json_escape(n.kind), ts_us, dur_us, json_escape(step),
                 json_escape(n.kernel), n.layer, n.bytes, n.flops);
      first = false;
      ts_us += dur_us;
    }
  out << "\n],\"displayTimeUnit\":\"ms\"}\n";
  out.close();
  if (!out) throw std::runtime_error(fmt::format("cannot write the trace file '{}'", path));
}

void profile(ProfileOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  if (o.n_prompt == 0 && o.n_gen == 0)
    throw std::invalid_argument("nothing to profile (-p 0 -n 0)");
  const bool kv_f16 = kv_half(o.cache);
  if (!o.trace.empty()) {
    std::ofstream probe(o.trace, std::ios::trunc);
    if (!probe) throw std::runtime_error(fmt::format("cannot write the trace file '{}'", o.trace));
  }

  GGUFFile file = open_model_file(o.model);
  LlamaParams params;
  try {
    params = LlamaParams::from_gguf(file);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", o.model, e.what()));
  }
  rt::Context ctx(context_options(o.dev, /*notices=*/!o.json, file));
  if (!ctx.info().timestamps)
    throw std::runtime_error(
        fmt::format("device '{}' has no timestamp queries on its compute queue; profile needs them",
                    ctx.info().name));
  const rt::Ceilings ceil = rt::device_ceilings(ctx, o.remeasure);

  EngineOptions eo;
  eo.kv_half = kv_f16;
  // Room for the prompt, the timed decode steps and as many untimed ones (matvec ceiling below).
  eo.n_ctx = std::max<uint32_t>(o.n_prompt + 2 * o.n_gen + 2, 16);
  eo.n_batch = std::max<uint32_t>(o.n_prompt, 1);
  eo.timestamps = true;
  Engine engine(ctx, file, eo);

  std::mt19937 rng(1234);
  std::vector<int32_t> prompt;
  for (uint32_t i = 0; i < o.n_prompt; ++i)
    prompt.push_back(i == 0 ? 1 : 3 + static_cast<int32_t>(rng() % (params.n_vocab - 3)));
  auto greedy = [](const std::vector<float>& l) {
    return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
  };
  // Warm-up pass (first submissions pay one-time costs), then the measured one.
  int32_t tok = 1;
  if (!prompt.empty()) tok = greedy(engine.eval(prompt));
  if (o.n_gen) engine.eval(std::span<const int32_t>(&tok, 1));
  engine.reset();

  std::vector<std::pair<std::string, std::vector<NodeProfile>>> trace;
  std::vector<StepProfile> steps;
  tok = 1;
  if (!prompt.empty()) {
    tok = greedy(engine.eval(prompt));
    auto nodes = engine.profile_last(o.n_prompt);
    trace.push_back({"prompt", nodes});
    steps.push_back(average("prompt", o.n_prompt, {nodes}));
  }
  std::vector<std::vector<NodeProfile>> decode;
  for (uint32_t i = 0; i < o.n_gen; ++i) {
    tok = greedy(engine.eval(std::span<const int32_t>(&tok, 1)));
    decode.push_back(engine.profile_last(1));
    trace.push_back({fmt::format("decode.{}", i), decode.back()});
  }
  if (!decode.empty()) steps.insert(steps.begin(), average("decode", 1, decode));

  // The decode step against the matvec ceiling: the weight-streaming rate of its matrix products
  // (cost-model bytes of the matmul* nodes over the step's time) vs. the largest one dispatched
  // alone. The step's time is the wall time of untimed replays (no timestamp after each
  // dispatch, which costs tens of microseconds each on lavapipe), host work included. Both sides
  // are best-of measurements (noise only adds time): the ceiling is the best of its dispatches
  // before, between and after the decode steps, the step the fastest of them; the mean step is
  // reported beside it. And because the machine's speed drifts (a CPU device shares its cores),
  // each step is paired with a ceiling dispatch just before it: the median of the pairs' ratios
  // compares the two at the same moments.
  std::optional<Engine::MatvecCeiling> mc;
  double decode_gbps = 0, untimed_ms = 0, mean_ms = 0, mm_bytes = 0;
  std::vector<double> paired_pct;
  int ceiling_runs = 0;
  auto ceiling = [&](int reps) {
    const Engine::MatvecCeiling c = engine.matvec_ceiling(reps);
    ceiling_runs += reps;
    if (!mc || (c.ms > 0 && (mc->ms <= 0 || c.ms < mc->ms))) mc = c;
    return c;
  };
  if (!decode.empty()) {
    ceiling(5);
    for (const auto& n : steps.front().nodes)
      if (n.kind.rfind("matmul", 0) == 0) mm_bytes += static_cast<double>(n.bytes);
    engine.set_timestamps(false);
    engine.eval(std::span<const int32_t>(&tok, 1));  // records the untimed step
    uint32_t n = 0;
    for (; n < o.n_gen && engine.n_past() < engine.n_ctx(); ++n) {
      const Engine::MatvecCeiling c = ceiling(1);
      const auto t0 = std::chrono::steady_clock::now();
      tok = greedy(engine.eval(std::span<const int32_t>(&tok, 1)));
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      untimed_ms = n == 0 ? ms : std::min(untimed_ms, ms);
      mean_ms += ms;
      if (c.ms > 0 && ms > 0)
        paired_pct.push_back(100.0 * (mm_bytes / ms) / (static_cast<double>(c.bytes) / c.ms));
    }
    if (n > 0) mean_ms /= n;
    decode_gbps = untimed_ms > 0 ? mm_bytes / (untimed_ms * 1e6) : 0.0;
    ceiling(5);
  }
  double paired_median = 0;
  if (!paired_pct.empty()) {
    std::sort(paired_pct.begin(), paired_pct.end());
    const size_t k = paired_pct.size();
    paired_median = k % 2 ? paired_pct[k / 2] : (paired_pct[k / 2 - 1] + paired_pct[k / 2]) / 2;
  }
  const double mc_gbps = mc && mc->ms > 0 ? mc->bytes / (mc->ms * 1e6) : 0.0;
  const double mc_gflops = mc && mc->ms > 0 ? mc->flops / (mc->ms * 1e6) : 0.0;
  const double decode_pct = mc_gbps > 0 ? 100.0 * decode_gbps / mc_gbps : 0.0;
  const double mean_pct =
      mc_gbps > 0 && mean_ms > 0 ? 100.0 * mm_bytes / (mean_ms * 1e6) / mc_gbps : 0.0;
  // What the decode step's dispatches cost at the device's measured fixed cost per dispatch.
  const size_t decode_dispatches = decode.empty() ? 0 : steps.front().nodes.size();
  const double dispatch_ms = static_cast<double>(decode_dispatches) * ceil.dispatch_us / 1000.0;

  if (!o.trace.empty()) write_trace(o.trace, trace);

  const std::string device = ctx.info().name;
  if (o.json) {
    fmt::print(
        "{{\"record\":\"ceilings\",\"model\":\"{}\",\"device\":\"{}\",\"copy_gbps\":{:.4f},"
        "\"fma_gflops\":{:.4f},\"dispatch_us\":{:.4f},\"cached\":{},\"kernels\":\"{}\"}}\n",
        json_escape(o.model), json_escape(device), ceil.copy_gbps, ceil.fma_gflops,
        ceil.dispatch_us, ceil.from_cache, json_escape(tuning_summary(engine.tuning())));
    for (const auto& s : steps) print_json(s, ceil);
    if (mc)
      fmt::print(
          "{{\"record\":\"matvec_ceiling\",\"node\":\"{}\",\"kernel\":\"{}\",\"M\":{},\"K\":{},"
          "\"ms\":{:.6f},\"gbps\":{:.4f},\"gflops\":{:.4f},\"decode_untimed_ms\":{:.4f},"
          "\"decode_gbps\":{:.4f},\"decode_pct\":{:.4f},\"decode_untimed_mean_ms\":{:.4f},"
          "\"decode_pct_mean\":{:.4f},\"decode_pct_paired_median\":{:.4f},\"pairs\":{},"
          "\"decode_dispatches\":{},\"decode_dispatch_ms\":{:.4f}}}\n",
          json_escape(mc->node), json_escape(mc->kernel), mc->M, mc->K, mc->ms, mc_gbps, mc_gflops,
          untimed_ms, decode_gbps, decode_pct, mean_ms, mean_pct, paired_median, paired_pct.size(),
          decode_dispatches, dispatch_ms);
    return;
  }
  fmt::print("model: {} ({} layers, dim {}, vocab {}; {:.1f} MiB of weights)\n", o.model,
             params.n_layer, params.n_embd, params.n_vocab, engine.weight_bytes() / 1048576.0);
  fmt::print("device: {}\n", device);
  fmt::print("kernels: {} (set by: {})\n", tuning_summary(engine.tuning()),
             tuning_origins(engine.tuning()));
  fmt::print(
      "ceilings: copy {:.2f} GB/s, FMA {:.2f} GFLOP/s, {:.1f} us per dispatch ({}; --remeasure to "
      "redo)\n",
      ceil.copy_gbps, ceil.fma_gflops, ceil.dispatch_us,
      ceil.from_cache ? "cached" : "measured now");
  fmt::print(
      "GPU time per dispatch from timestamps; bytes and FLOPs from the cost model "
      "(graph/cost.h)\n");
  for (const auto& s : steps) print_tables(s, ceil);
  if (mc) {
    fmt::print(
        "\nmatvec ceiling: '{}' ({} x {}, {}) dispatched alone, best of {}: {:.3f} ms, {:.2f} "
        "GB/s, {:.2f} GFLOP/s\n",
        mc->node, mc->M, mc->K, mc->kernel, ceiling_runs, mc->ms, mc_gbps, mc_gflops);
    fmt::print(
        "decode step replayed without timestamps: fastest {:.3f} ms per token (mean {:.3f} ms); "
        "its matrix products stream {:.2f} GB/s over the fastest step = {:.1f}% of the matvec "
        "ceiling (mean step: {:.1f}%; median of {} steps each against the ceiling dispatched just "
        "before it: {:.1f}%)\n",
        untimed_ms, mean_ms, decode_gbps, decode_pct, mean_pct, paired_pct.size(), paired_median);
    if (untimed_ms > 0)
      fmt::print(
          "its {} dispatches at the device's {:.1f} us per dispatch (ceilings): {:.3f} ms, {:.1f}% "
          "of the fastest step\n",
          decode_dispatches, ceil.dispatch_us, dispatch_ms, 100.0 * dispatch_ms / untimed_ms);
  }
  if (!o.trace.empty())
    fmt::print("\ntrace: {} ({} events)\n", o.trace, [&] {
      size_t n = 0;
      for (const auto& t : trace) n += t.second.size();
      return n;
    }());
}

}  // namespace

void register_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileOptions>();
  auto* cmd = app.add_subcommand(
      "profile",
      "per-op and per-layer GPU time of a prompt step (-p tokens, one batch) and of -n decode "
      "steps, with bytes, FLOPs and the fraction of the device's measured copy bandwidth and FMA "
      "throughput, and the decode step's weight streaming against the matvec ceiling (its largest "
      "matrix product dispatched alone) and what its dispatches cost at the device's measured "
      "cost per dispatch; optionally a Chrome/Perfetto trace");
  cmd->add_option("-m,--model", o->model, "GGUF model file (default: the embedded model)");
  cmd->add_option("-p,--n-prompt", o->n_prompt,
                  "prompt tokens, processed as one batch (default 128)");
  cmd->add_option("-n,--n-gen", o->n_gen, "decode steps profiled after the prompt (default 16)");
  cmd->add_option("--trace", o->trace,
                  "write a Chrome/Perfetto trace (JSON) of the prompt step and the decode steps");
  cmd->add_flag("--json", o->json, "one JSON object per record on stdout instead of tables");
  cmd->add_flag("--remeasure", o->remeasure,
                "measure the device ceilings (and the cost per dispatch) again instead of reading "
                "their cache");
  add_cache_options(*cmd, o->cache);
  add_device_options(*cmd, o->dev);
  cmd->callback([o] { profile(*o); });
}

}  // namespace vkllm::app
