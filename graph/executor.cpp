#include "graph/executor.h"

#include <stdexcept>

namespace vkllm {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

bool overlaps(const rt::BufferRange& a, const rt::BufferRange& b) {
  if (a.buffer->handle() != b.buffer->handle()) return false;
  return a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}

bool any_overlap(const rt::BufferRange& r, const std::vector<rt::BufferRange>& set) {
  for (const auto& s : set)
    if (overlaps(r, s)) return true;
  return false;
}

void dispatch(const Graph& g, const Node& node, Ops& ops, rt::Sequence& s) {
  auto in = [&](size_t i) { return g.tensor(node.src.at(i)).range; };
  const rt::BufferRange out = g.tensor(node.dst).range;
  std::visit(
      Overloaded{
          [&](const GetRowsOp& o) {
            ops.get_rows(s, o.type, in(0), in(1), out, o.n_cols, o.n_rows);
          },
          [&](const RmsNormOp& o) { ops.rms_norm(s, in(0), in(1), out, o.n, o.rows, o.eps); },
          [&](const AddRmsNormOp& o) {
            ops.add_rms_norm(s, in(0), in(1), in(2), g.tensor(node.extra_dst.at(0)).range, out, o.n,
                             o.rows, o.eps);
          },
          [&](const MatMulOp& o) {
            ops.matmul(s, o.type, in(0), in(1), out, o.M, o.K, o.T, o.layout, o.glu);
          },
          [&](const MatMulRopeKvOp& o) {
            ops.matmul_rope_kv(s, o.type, o.layout, in(0), in(1), out,
                               g.tensor(node.extra_dst.at(0)).range,
                               g.tensor(node.extra_dst.at(1)).range, in(2), o.K, o.shape);
          },
          [&](const RopeOp& o) {
            ops.rope(s, in(0), out, in(1), o.head_dim, o.n_heads, o.T, o.n_rot, o.freq_base,
                     o.mode);
          },
          [&](const KvWriteOp& o) { ops.kv_write(s, in(0), out, in(1), o.width, o.T, o.ctx); },
          [&](const RopeKvOp& o) {
            ops.rope_kv(s, in(0), in(1), in(2), out, g.tensor(node.extra_dst.at(0)).range,
                        g.tensor(node.extra_dst.at(1)).range, in(3), o.shape, o.layout);
          },
          [&](const AttentionOp& o) {
            ops.attention(s, in(0), in(1), in(2), out, in(3), o.head_dim, o.n_heads, o.n_kv_heads,
                          o.T, o.ctx, o.scale);
          },
          [&](const AddOp& o) { ops.add(s, in(0), in(1), out, o.n, o.nb); },
          [&](const SwiGluOp& o) { ops.swiglu(s, in(0), in(1), out, o.n); },
          [&](const CopyBytesOp& o) {
            const auto src = in(0);
            s.copy(*src.buffer, src.offset + o.src_offset, *out.buffer, out.offset, o.bytes);
          },
      },
      node.op);
}

}  // namespace

RecordStats record_graph(const Graph& g, Ops& ops, rt::Sequence& seq) {
  RecordStats stats;
  std::vector<rt::BufferRange> written, read;  // since the last barrier
  for (const Node& node : g.nodes()) {
    std::vector<rt::BufferRange> writes;
    bool hazard = false;
    for (int d : node.outputs()) {
      const rt::BufferRange& w = g.tensor(d).range;
      if (!w.buffer) throw std::logic_error("tensor '" + g.tensor(d).name + "' is not placed");
      hazard = hazard || any_overlap(w, written) || any_overlap(w, read);
      writes.push_back(w);
    }
    for (int s : node.src) {
      const rt::BufferRange& r = g.tensor(s).range;
      if (!r.buffer) throw std::logic_error("tensor '" + g.tensor(s).name + "' is not placed");
      hazard = hazard || any_overlap(r, written);
    }
    if (hazard) {
      seq.barrier();
      ++stats.barriers;
      written.clear();
      read.clear();
    }
    for (int s : node.src) read.push_back(g.tensor(s).range);
    written.insert(written.end(), writes.begin(), writes.end());
    dispatch(g, node, ops, seq);
    ++stats.dispatches;
  }
  return stats;
}

}  // namespace vkllm
