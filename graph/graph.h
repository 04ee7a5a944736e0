// The op graph: tensors (where data lives) and nodes (which kernel turns which tensors into which).
// A graph is built once per batch size, its activations placed by the memory planner, and recorded
// by the executor into a replayable command sequence.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "graph/ops.h"
#include "quant/types.h"
#include "runtime/memory.h"

namespace vkllm {

enum class TensorKind {
  Weight,      // model weights, in their own buffers
  Activation,  // intermediate results; placed in the arena by the planner
  External,    // owned by the caller: inputs, outputs, the KV cache, the step buffer
};

struct Tensor {
  std::string name;
  TensorKind kind = TensorKind::Activation;
  GGMLType type = GGMLType::F32;
  uint64_t bytes = 0;
  rt::BufferRange range;  // set at creation for Weight/External, by the planner for Activation
};

// Per-op parameters. Shapes follow the conventions of graph/ops.h.
// The embedding gather of n_rows ids from the table piece `piece` (Ops::get_rows, TablePiece).
struct GetRowsOp {
  GGMLType type;
  uint32_t n_cols, n_rows;
  TablePiece piece;
};
struct RmsNormOp {
  uint32_t n, rows;
  float eps;
  // Ops::rms_norm_deferred: dst x * weight, extra_dst {partials} (Ops::kRmsNormDeferredPartials
  // per row); a NormIn product finishes the norm.
  bool deferred = false;
};
// The deferred RMSNorm of a product's input (Ops::NormIn): x is weight * s and the product's last
// src the partial sums of s^2, `partials` per token; 0 = x is used as it is.
struct NormInput {
  uint32_t partials = 0;
  float eps = 0.0f;
};
struct AddRmsNormOp {  // src {x, b, weight}; dst rms_norm(x + b); extra_dst {x + b}
  uint32_t n, rows;
  float eps;
};
struct MatMulOp {
  GGMLType type;
  uint32_t M, K, T;
  WeightLayout layout = WeightLayout::AsStored;
  bool glu = false;  // rows are gate/up pairs; dst [T x M/2] = silu(gate) * up (Ops::matmul)
  NormInput norm_in = {};
  // Ops::NormOut: src {W, x, residual, norm weight}; dst norm weight * s; extra_dst {s = residual
  // + W x, partials}.
  bool norm_out = false;
};
// A layer's q/k/v product with RoPE and the KV-cache write fused (Ops::matmul_rope_kv):
// src {W, x, step (, partials)}; dst q_out [T x E]; extra_dst {k_cache, v_cache}.
struct MatMulRopeKvOp {
  GGMLType type;
  WeightLayout layout;
  uint32_t K;
  Ops::RopeKvShape shape;
  NormInput norm_in = {};
};
struct RopeOp {
  uint32_t head_dim, n_heads, T, n_rot;
  RopeFreqs freqs;
  RopeMode mode;
};
struct KvWriteOp {
  uint32_t width, T, ctx;
};
struct RopeKvOp {  // src {q, k, v, step}; dst q_out; extra_dst {k_cache, v_cache}
  Ops::RopeKvShape shape;
  Ops::QkvLayout layout;
};
struct AttentionOp {
  uint32_t head_dim, n_heads, n_kv_heads, T, ctx;
  float scale;
  bool kv_half = false;  // the caches hold f16 elements
};
struct AddOp {
  uint32_t n, nb;
};
struct SwiGluOp {
  uint32_t n;
};
struct CopyBytesOp {  // a transfer copy of `bytes` from src at src_offset to the start of dst
  uint64_t src_offset, bytes;
};
// Row r < rows of src (bytes r * src_stride .. + row_bytes) to dst at dst_offset + r * dst_stride:
// one transfer command.
struct CopyRowsOp {
  uint32_t rows;
  uint64_t row_bytes, src_stride, dst_offset, dst_stride;
};
using OpParams =
    std::variant<GetRowsOp, RmsNormOp, AddRmsNormOp, MatMulOp, MatMulRopeKvOp, RopeOp, KvWriteOp,
                 RopeKvOp, AttentionOp, AddOp, SwiGluOp, CopyBytesOp, CopyRowsOp>;

struct Node {
  std::string name;
  OpParams op;
  std::vector<int> src;        // tensors read, in the order the op takes them
  int dst = -1;                // tensor written
  std::vector<int> extra_dst;  // further tensors written (e.g. the KV cache by RopeKvOp)

  // dst followed by extra_dst.
  std::vector<int> outputs() const;
};

class Graph {
 public:
  int weight(std::string name, GGMLType type, const rt::Buffer& buffer);
  int external(std::string name, uint64_t bytes, rt::BufferRange range);
  int activation(std::string name, uint64_t bytes);
  // Appends a node; returns dst for chaining.
  int add(std::string name, OpParams op, std::vector<int> src, int dst,
          std::vector<int> extra_dst = {});

  std::vector<Tensor>& tensors() { return tensors_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const Tensor& tensor(int id) const { return tensors_.at(id); }

 private:
  std::vector<Tensor> tensors_;
  std::vector<Node> nodes_;
};

}  // namespace vkllm
