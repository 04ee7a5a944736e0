#include "graph/cost.h"

#include <charconv>

namespace vkllm {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

constexpr uint64_t kF32 = 4;

// Sum over the batch's tokens of the keys each attends to: (pos0 + 1) + ... + (pos0 + T).
uint64_t attended_keys(uint32_t pos0, uint32_t T) {
  return uint64_t{T} * pos0 + uint64_t{T} * (T + 1) / 2;
}

}  // namespace

NodeCost node_cost(const Graph& g, const Node& node, uint32_t pos0) {
  auto src_bytes = [&](size_t i) { return g.tensor(node.src.at(i)).bytes; };
  return std::visit(
      Overloaded{
          [&](const GetRowsOp& o) {
            const uint64_t row = row_bytes(o.type, o.n_cols).value_or(uint64_t{o.n_cols} * kF32);
            return NodeCost{uint64_t{o.n_rows} * (row + kF32 + uint64_t{o.n_cols} * kF32), 0.0};
          },
          [&](const RmsNormOp& o) {
            const uint64_t n = uint64_t{o.n} * o.rows;
            const uint64_t partials = o.deferred ? g.tensor(node.extra_dst.at(0)).bytes : 0;
            return NodeCost{2 * n * kF32 + o.n * kF32 + partials, 4.0 * n};
          },
          [&](const AddRmsNormOp& o) {
            const uint64_t n = uint64_t{o.n} * o.rows;
            return NodeCost{4 * n * kF32 + o.n * kF32, 5.0 * n};
          },
          [&](const MatMulOp& o) {
            const uint64_t out = o.glu ? o.M / 2 : o.M;
            uint64_t bytes = src_bytes(0) + uint64_t{o.T} * o.K * kF32 + uint64_t{o.T} * out * kF32;
            double flops = 2.0 * o.M * o.K * o.T;
            if (o.norm_in.partials) bytes += uint64_t{o.T} * o.norm_in.partials * kF32;
            if (o.norm_out) {
              // Residual in, the sum out, the norm weight and the partials.
              bytes += 2ull * o.T * o.M * kF32 + o.M * kF32 + g.tensor(node.extra_dst.at(1)).bytes;
              flops += 3.0 * o.T * o.M;
            }
            return NodeCost{bytes, flops};
          },
          [&](const MatMulRopeKvOp& o) {
            // The product (weights once, x in, q out) plus the k and v rows into the cache.
            const auto& sh = o.shape;
            const uint64_t E = uint64_t{sh.n_heads} * sh.head_dim;
            const uint64_t KV = uint64_t{sh.n_kv_heads} * sh.head_dim;
            const uint64_t M = E + 2 * KV;
            const uint64_t bytes = src_bytes(0) + uint64_t{sh.T} * o.K * kF32 +
                                   sh.T * (E * kF32 + 2 * KV * Ops::kv_element_bytes(sh.kv_half)) +
                                   uint64_t{sh.T} * o.norm_in.partials * kF32;
            return NodeCost{
                bytes, 2.0 * M * o.K * sh.T + 3.0 * sh.T * (sh.n_heads + sh.n_kv_heads) * sh.n_rot};
          },
          [&](const RopeOp& o) {
            const uint64_t n = uint64_t{o.T} * o.n_heads * o.head_dim;
            return NodeCost{2 * n * kF32, 3.0 * o.T * o.n_heads * o.n_rot};
          },
          [&](const KvWriteOp& o) {
            return NodeCost{2ull * o.T * o.width * kF32, 0.0};
          },
          [&](const RopeKvOp& o) {
            const auto& s = o.shape;
            const uint64_t q = uint64_t{s.T} * s.n_heads * s.head_dim;
            const uint64_t kv = uint64_t{s.T} * s.n_kv_heads * s.head_dim;
            return NodeCost{(2 * q + 2 * kv) * kF32 + 2 * kv * Ops::kv_element_bytes(s.kv_half),
                            3.0 * s.T * (s.n_heads + s.n_kv_heads) * s.n_rot};
          },
          [&](const AttentionOp& o) {
            // Each (head, token) reads K and V rows 0..pos of its KV head; GQA heads sharing a
            // KV head are assumed to hit the cache, so KV bytes count once per KV head.
            const uint64_t keys = attended_keys(pos0, o.T);
            const uint64_t qo = 2ull * o.T * o.n_heads * o.head_dim * kF32;
            const uint64_t kv =
                2 * keys * o.n_kv_heads * o.head_dim * Ops::kv_element_bytes(o.kv_half);
            return NodeCost{qo + kv, 4.0 * keys * o.n_heads * o.head_dim};
          },
          [&](const AddOp& o) {
            return NodeCost{(2ull * o.n + o.nb) * kF32, double(o.n)};
          },
          [&](const SwiGluOp& o) {
            return NodeCost{3ull * o.n * kF32, 4.0 * o.n};
          },
          [&](const CopyBytesOp& o) {
            return NodeCost{2 * o.bytes, 0.0};
          },
          [&](const CopyRowsOp& o) {
            return NodeCost{2 * o.rows * o.row_bytes, 0.0};
          },
      },
      node.op);
}

const char* op_kind_name(const OpParams& op) {
  return std::visit(Overloaded{
                        [](const GetRowsOp&) { return "get_rows"; },
                        [](const RmsNormOp&) { return "rms_norm"; },
                        [](const AddRmsNormOp&) { return "add_rms_norm"; },
                        [](const MatMulOp& o) { return o.glu ? "matmul_swiglu" : "matmul"; },
                        [](const MatMulRopeKvOp&) { return "matmul_rope_kv"; },
                        [](const RopeOp&) { return "rope"; },
                        [](const KvWriteOp&) { return "kv_write"; },
                        [](const RopeKvOp&) { return "rope_kv"; },
                        [](const AttentionOp&) { return "attention"; },
                        [](const AddOp&) { return "add"; },
                        [](const SwiGluOp&) { return "swiglu"; },
                        [](const CopyBytesOp&) { return "copy_bytes"; },
                        [](const CopyRowsOp&) { return "copy_rows"; },
                    },
                    op);
}

int node_layer(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  const char* first = name.data() + 4;
  const char* last = name.data() + name.size();
  int layer = -1;
  auto [end, ec] = std::from_chars(first, last, layer);
  if (ec != std::errc() || end == first || end == last || *end != '.') return -1;
  return layer;
}

}  // namespace vkllm
