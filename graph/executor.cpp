#include "graph/executor.h"

#include <optional>
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
  auto extra = [&](size_t i) { return g.tensor(node.extra_dst.at(i)).range; };
  // A deferred norm's partials are the node's last src.
  auto norm_in = [&](const NormInput& n) -> std::optional<Ops::NormIn> {
    if (!n.partials) return std::nullopt;
    return Ops::NormIn{in(node.src.size() - 1), n.partials, n.eps};
  };
  std::visit(
      Overloaded{
          [&](const GetRowsOp& o) {
            ops.get_rows(s, o.type, in(0), in(1), out, o.n_cols, o.n_rows, o.piece);
          },
          [&](const RmsNormOp& o) {
            if (o.deferred)
              ops.rms_norm_deferred(s, in(0), in(1), out, extra(0), o.n, o.rows);
            else
              ops.rms_norm(s, in(0), in(1), out, o.n, o.rows, o.eps);
          },
          [&](const AddRmsNormOp& o) {
            ops.add_rms_norm(s, in(0), in(1), in(2), extra(0), out, o.n, o.rows, o.eps);
          },
          [&](const MatMulOp& o) {
            const auto ni = norm_in(o.norm_in);
            std::optional<Ops::NormOut> no;
            if (o.norm_out) no = Ops::NormOut{in(2), in(3), extra(0), extra(1)};
            ops.matmul(s, o.type, in(0), in(1), out, o.M, o.K, o.T, o.layout, o.glu,
                       ni ? &*ni : nullptr, no ? &*no : nullptr);
          },
          [&](const MatMulRopeKvOp& o) {
            const auto ni = norm_in(o.norm_in);
            ops.matmul_rope_kv(s, o.type, o.layout, in(0), in(1), out, extra(0), extra(1), in(2),
                               o.K, o.shape, ni ? &*ni : nullptr);
          },
          [&](const RopeOp& o) {
            ops.rope(s, in(0), out, in(1), o.head_dim, o.n_heads, o.T, o.n_rot, o.freqs, o.mode);
          },
          [&](const KvWriteOp& o) { ops.kv_write(s, in(0), out, in(1), o.width, o.T, o.ctx); },
          [&](const RopeKvOp& o) {
            ops.rope_kv(s, in(0), in(1), in(2), out, extra(0), extra(1), in(3), o.shape, o.layout);
          },
          [&](const AttentionOp& o) {
            ops.attention(s, in(0), in(1), in(2), out, in(3), o.head_dim, o.n_heads, o.n_kv_heads,
                          o.T, o.ctx, o.scale, o.kv_half);
          },
          [&](const AddOp& o) { ops.add(s, in(0), in(1), out, o.n, o.nb); },
          [&](const SwiGluOp& o) { ops.swiglu(s, in(0), in(1), out, o.n); },
          [&](const CopyBytesOp& o) {
            const auto src = in(0);
            s.copy(*src.buffer, src.offset + o.src_offset, *out.buffer, out.offset, o.bytes);
          },
          [&](const CopyRowsOp& o) {
            const auto src = in(0);
            s.copy_rows(*src.buffer, src.offset, o.src_stride, *out.buffer,
                        out.offset + o.dst_offset, o.dst_stride, o.row_bytes, o.rows);
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
