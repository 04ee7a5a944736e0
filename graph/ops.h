// Op dispatch: one function per kernel that picks the shader variant and workgroup sizes for this
// device, fills the push constants and records the dispatch. Callers place barriers.
//
// Conventions
// - Activations are f32, row-major, rows contiguous: a [rows x cols] matrix has element (r, c)
//   at r * cols + c. A batch of T tokens of width D is [T x D].
// - Weights follow GGUF/ggml: a matrix with ne = {K, M} has M rows of K contiguous elements; the
//   matrix product computes y[t, m] = sum_k W[m, k] * x[t, k].
// - `step` is a small device buffer (StepParams) read by position-dependent kernels, so a recorded
//   command buffer can be replayed for every token without re-recording.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graph/tuning.h"
#include "quant/repack.h"
#include "quant/types.h"
#include "runtime/context.h"
#include "runtime/sequence.h"

namespace vkllm {

using rt::BufferRange;

// Bytes a range covers (VK_WHOLE_SIZE: to the end of its buffer).
inline uint64_t range_bytes(const BufferRange& r) {
  if (r.size != VK_WHOLE_SIZE) return r.size;
  return r.buffer && r.buffer->size() > r.offset ? r.buffer->size() - r.offset : 0;
}

// Layout of the step buffer bound to position-dependent kernels.
struct StepParams {
  uint32_t pos0;    // position of the first token of this batch
  uint32_t n_past;  // tokens already in the KV cache before this batch (== pos0)
  uint32_t pad[2];
};

// Which elements RoPE rotates together.
enum class RopeMode {
  Normal,  // adjacent pairs (x[2i], x[2i + 1]), as GGUF llama / llama2.c
  NeoX,    // halves (x[i], x[i + n_rot / 2])
};

// RoPE frequencies: pair i < n_rot / 2 of a token at position pos turns by
//   pos * scale * base^(-2i / n_rot) / factors[i]
// (factors empty: all 1). `scale` is 1 / the linear scaling factor (GGUF rope.scaling.type
// linear), `factors` Llama 3's per-pair frequency factors (GGUF tensor rope_freqs.weight). A
// plain base converts implicitly.
struct RopeFreqs {
  float base = 10000.0f;
  float scale = 1.0f;
  std::vector<float> factors;
  RopeFreqs() = default;
  RopeFreqs(float b) : base(b) {}  // NOLINT(google-explicit-constructor): a plain base
};

// How the quantized kernels (shaders/formats/<glsl>.glsl) read a weight type: variant suffix,
// elements per kernel block (rows must hold a whole number of them; BF16 is taken 32 values at a
// time) and bytes per kernel block. nullopt for F32/F16 and for types without such kernels.
// The part of an embedding table one get_rows call gathers from: a table split by rows (one
// buffer binding each) is gathered by one call per piece.
struct TablePiece {
  uint32_t row0 = 0;      // the id of the piece's first row: ids before it write nothing
  bool zero_past = true;  // ids past the piece write zeros (the last piece), else nothing
  WeightLayout layout = WeightLayout::AsStored;
  uint32_t n_rows = 0;  // Planar: the piece's rows (its range also holds the layout's padding)
};

struct QuantKernelFormat {
  const char* glsl;
  uint32_t block;
  uint32_t block_bytes;
};
std::optional<QuantKernelFormat> quant_kernel_format(GGMLType type);

class Ops {
 public:
  // Kernel settings from kernel_tuning(ctx.info()) (device profiles; throws rt::ProfileError
  // for a bad one), or given.
  explicit Ops(rt::Context& ctx);
  Ops(rt::Context& ctx, const KernelTuning& tuning);
  rt::Context& context() { return ctx_; }
  const KernelTuning& tuning() const { return tuning_; }

  // c[i] = a[i] + b[i % nb] for i < n.
  void add(rt::Sequence& s, BufferRange a, BufferRange b, BufferRange c, uint32_t n, uint32_t nb);

  // --- graph/ops_attention.cpp ---
  // y[r, i] = x[r, i] / sqrt(mean(x[r, :]^2) + eps) * weight[i] for r < rows, i < n.
  void rms_norm(rt::Sequence& s, BufferRange x, BufferRange weight, BufferRange y, uint32_t n,
                uint32_t rows, float eps);
  // The start of a deferred RMSNorm (see matmul's NormIn): y = x * weight unscaled, partials
  // [rows x kRmsNormDeferredPartials]: the row's sum of x^2, then zeros (NormIn reads partials as
  // vec4s).
  static constexpr uint32_t kRmsNormDeferredPartials = 4;
  void rms_norm_deferred(rt::Sequence& s, BufferRange x, BufferRange weight, BufferRange y,
                         BufferRange partials, uint32_t n, uint32_t rows);
  // sum = x + b, then y = rms_norm(sum) * weight (residual add and the next norm in one dispatch).
  void add_rms_norm(rt::Sequence& s, BufferRange x, BufferRange b, BufferRange weight,
                    BufferRange sum, BufferRange y, uint32_t n, uint32_t rows, float eps);
  // Rotary embedding of x [T x n_heads * head_dim] into y (may alias x). Token t is at position
  // step.pos0 + t; pair i < n_rot / 2 turns as RopeFreqs says; dims past n_rot are copied.
  // head_dim and n_rot even, n_rot <= head_dim. Uses an inverse-frequency table that this Ops
  // keeps for its lifetime (built on first use of each table).
  void rope(rt::Sequence& s, BufferRange x, BufferRange y, BufferRange step, uint32_t head_dim,
            uint32_t n_heads, uint32_t T, uint32_t n_rot, const RopeFreqs& freqs, RopeMode mode);
  // Fused RoPE + KV-cache write: q_out [T x n_heads*head_dim] = rope(q); rows pos0+t of k_cache
  // and v_cache = rope(k) and v. Token t's q row starts at element t * q_stride + q_offset of q
  // (likewise k, v), so q, k and v can be column slices of one fused QKV product bound three
  // times. Rows >= ctx_len are not written. With kv_half the caches hold f16 elements
  // (shaders/kv_cache.glsl; adjacent-pair RoPE only), else f32.
  struct RopeKvShape {
    uint32_t head_dim, n_heads, n_kv_heads, T, n_rot, ctx_len;
    RopeFreqs freqs;
    RopeMode mode;
    bool kv_half = false;
  };
  // Bytes of a KV cache element.
  static uint32_t kv_element_bytes(bool kv_half) { return kv_half ? 2 : 4; }
  struct QkvLayout {
    uint32_t q_stride, q_offset, k_stride, k_offset, v_stride, v_offset;
  };
  void rope_kv(rt::Sequence& s, BufferRange q, BufferRange k, BufferRange v, BufferRange q_out,
               BufferRange k_cache, BufferRange v_cache, BufferRange step, const RopeKvShape& sh,
               const QkvLayout& lay);
  // cache[(step.pos0 + t) * kv_width + j] = src[t * kv_width + j]; rows >= ctx_len not written.
  void kv_write(rt::Sequence& s, BufferRange src, BufferRange cache, BufferRange step,
                uint32_t kv_width, uint32_t T, uint32_t ctx_len);
  // Causal grouped-query attention. q, out: [T x n_heads * head_dim]; k_cache, v_cache:
  // [ctx_len x n_kv_heads * head_dim]. Token t (position p = step.pos0 + t) attends to cache
  // positions 0..p with softmax(q.k * scale); head h uses kv head h / (n_heads / n_kv_heads).
  // head_dim <= 256, n_heads a multiple of n_kv_heads. kv_half: the caches hold f16 elements.
  void attention(rt::Sequence& s, BufferRange q, BufferRange k_cache, BufferRange v_cache,
                 BufferRange out, BufferRange step, uint32_t head_dim, uint32_t n_heads,
                 uint32_t n_kv_heads, uint32_t T, uint32_t ctx_len, float scale,
                 bool kv_half = false);

  // --- graph/ops_matmul.cpp ---
  // y[t * M + m] = sum_k W[m * K + k] * x[t * K + k] for m < M, t < T: W [M x K] of `wtype`, x
  // [T x K] f32, y [T x M] f32, f32 accumulation. T == 1 runs a matrix-vector kernel, T > 1 a
  // tiled matrix-matrix kernel. F32 and F16 (K even) use matvec_/matmul_(rows_)f32/f16; the GGUF
  // block formats of quant/formats.h (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q2_K..Q6_K,
  // BF16) are read as stored by matvec_<glsl>(_subgroup) (a few tokens per pass when T > 1),
  // with K a multiple of the kernel block (quant_kernel_format). A quantized W range whose byte
  // size is not a multiple of 4 needs 2 bytes of buffer after it (the kernels read 32-bit words).
  // Other types, or a K that is not a multiple of the block, throw std::invalid_argument naming
  // the type.
  // `layout` Planar (quant/repack.h has_planar_layout) is read by the texel
  // kernels only; pass what weight_layout() returned when the weights were loaded.
  //
  // Texel kernels (matvec_t_<type>): where the device has storage texel buffers and
  // texel_kernels() is on, F32/F16 as stored and the planar types (K a multiple of 32, of 256 for
  // K-quants) read W and x through texel buffers (on lavapipe several times faster than
  // storage-buffer loads).
  //
  // `glu` (texel kernels only, see glu_supported): W's rows 2j and 2j + 1 are a gate and an up
  // row, and y [T x M/2] gets silu(gate) * up (the SwiGLU of a fused gate/up product).
  //
  // Deferred RMSNorm (texel kernels, one token, see norm_fusable): rms_norm(s) * weight between
  // two products without a dispatch of its own. The producer of s (a product with NormOut, or
  // rms_norm_deferred) writes weight * s and, per token, partial sums of s^2; the consumer (a
  // product with NormIn) reads weight * s as its x and scales each token's sums by
  // 1 / sqrt(S / K + eps), S = the sum of the token's partials, before its GLU or RoPE epilogue.
  struct NormIn {
    BufferRange partials;  // [T x count] f32
    uint32_t count;        // partials per token, a multiple of 4
    float eps;
  };
  // The producer's epilogue: sum = residual + W x ([T x M]), y = weight * sum, partials [T x
  // norm_partials(wtype, layout, M, T)] (no GLU).
  struct NormOut {
    BufferRange residual, weight, sum, partials;
  };
  void matmul(rt::Sequence& s, GGMLType wtype, BufferRange w, BufferRange x, BufferRange y,
              uint32_t M, uint32_t K, uint32_t T, WeightLayout layout = WeightLayout::AsStored,
              bool glu = false, const NormIn* norm_in = nullptr, const NormOut* norm_out = nullptr);
  // Whether an M x K product of `wtype` in `layout` can take NormIn and NormOut here (T = 1).
  bool norm_fusable(GGMLType wtype, WeightLayout layout, uint32_t M, uint32_t K) const;
  // Partials per token that a NormOut product of M rows writes for a batch of T tokens.
  uint32_t norm_partials(GGMLType wtype, WeightLayout layout, uint32_t M, uint32_t T) const;
  // A layer's fused q/k/v product with RoPE and the KV-cache write in its epilogue (texel kernels,
  // adjacent-pair RoPE): W holds the q, k and v rows ([E + 2 KV] x K, E = n_heads * head_dim,
  // KV = n_kv_heads * head_dim), x is [sh.T x K]. q_out [T x E] gets RoPE(q), rows step.pos0 + t
  // of k_cache and v_cache get RoPE(k) and v (rows >= ctx_len are not written): what matmul and
  // then rope_kv on the product's column slices compute, in one dispatch.
  void matmul_rope_kv(rt::Sequence& s, GGMLType wtype, WeightLayout layout, BufferRange w,
                      BufferRange x, BufferRange q_out, BufferRange k_cache, BufferRange v_cache,
                      BufferRange step, uint32_t K, const RopeKvShape& sh,
                      const NormIn* norm_in = nullptr);
  // Whether matmul_rope_kv can run this shape here.
  bool rope_kv_fusable(GGMLType wtype, WeightLayout layout, uint32_t K,
                       const RopeKvShape& sh) const;
  // Whether matmul can fuse the SwiGLU for an M x K matrix of `wtype` in `layout` (M even).
  bool glu_supported(GGMLType wtype, WeightLayout layout, uint32_t M, uint32_t K) const;
  // The layout the loader should give an M x K matrix of `wtype` that matmul will read: Planar
  // where the texel kernels will run on it and the format has a planar layout (one larger than
  // the file only with KernelTuning::planar_larger), else AsStored.
  WeightLayout weight_layout(GGMLType wtype, uint32_t M, uint32_t K) const;
  // Alignment of the planar layout's scale plane on this device.
  uint64_t planar_alignment() const;
  // The planar layout (quant/repack.h) the loader gives `wtype` matrices on this device and the
  // texel kernels read: tiles of `lanes` = the rows-per-invocation workgroup size, times the rows
  // per invocation of the decode kernel for `wtype`. Depends on the device (and its tuning) only.
  PlanarParams planar_params(GGMLType wtype) const;
  // Whether matmul uses the texel kernels where it can (KernelTuning::texel_kernels: on for CPU
  // devices with texel buffers, where storage-buffer loads are slow).
  bool texel_kernels() const { return tuning_.texel_kernels; }
  void set_texel_kernels(bool on) { tuning_.texel_kernels = on && ctx_.info().texel_buffers; }
  // How the texel matrix kernels spread a row over invocations: true = each invocation owns
  // whole rows (no reduction; CPU devices, where cross-invocation reductions are per-lane loops),
  // false = the row's blocks are split over a subgroup and reduced (GPUs).
  bool texel_lanes() const { return tuning_.texel_lanes; }
  void set_texel_lanes(bool on) { tuning_.texel_lanes = on; }
  void set_attention_tokens(uint32_t n) { tuning_.attention_tokens = n; }
  void set_subgroup_norms(bool on) { tuning_.subgroup_norms = on; }

  // --- graph/ops_elementwise.cpp ---
  // out[t, c] = table[ids[t], c] for t < n_rows_out, c < n_cols: table [rows x n_cols] of `wtype`
  // (F32, F16, or a quantized format as for matmul, n_cols a multiple of its kernel block: kernel
  // get_rows_<glsl>; rows = table range size / row bytes), ids one uint32 per token, out f32. An
  // id >= rows writes a row of zeros (callers validate ids). An F16 or quantized table whose range
  // ends mid-word needs 2 bytes of buffer after it (the kernels read 32-bit words).
  // `piece`: which rows the table range holds (TablePiece; the whole table by default). Layout
  // Planar: a table of a planar type (has_planar_layout) repacked as matmul reads it
  // (planar_params; a tied embedding), gathered by get_rows_planar_<kernel>.
  void get_rows(rt::Sequence& s, GGMLType wtype, BufferRange table, BufferRange ids,
                BufferRange out, uint32_t n_cols, uint32_t n_rows_out,
                const TablePiece& piece = {});
  // y[i] = x[i] * factor for i < n (y may alias x).
  void scale(rt::Sequence& s, BufferRange x, BufferRange y, uint32_t n, float factor);
  // dst[i] = src[i] for i < n f32 elements, by a shader.
  void copy(rt::Sequence& s, BufferRange src, BufferRange dst, uint32_t n);
  // y[r, :] = softmax(x[r, :] * scale) for r < n_rows, max-subtracted; any n_cols >= 1; y may
  // alias x.
  void softmax(rt::Sequence& s, BufferRange x, BufferRange y, uint32_t n_cols, uint32_t n_rows,
               float scale = 1.0f);
  // out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)), for i < n.
  void swiglu(rt::Sequence& s, BufferRange gate, BufferRange up, BufferRange out, uint32_t n);

 private:
  // Workgroups to cover n invocations of `local` threads, folded into y when over the x limit.
  std::array<uint32_t, 3> groups_1d(uint64_t n, uint32_t local) const;
  // RoPE inverse frequencies, f32(scale * base^(-2i / n_rot) / factors[i]) for i < n_rot / 2
  // (graph/ops_attention.cpp); throws std::invalid_argument for factors of the wrong count.
  const rt::Buffer& rope_inv_freq(uint32_t n_rot, const RopeFreqs& freqs);
  // matmul for weights read by the quantized kernels (graph/ops_matmul.cpp).
  void matmul_quant(rt::Sequence& s, GGMLType wtype, const QuantKernelFormat& q, BufferRange w,
                    BufferRange x, BufferRange y, uint32_t M, uint32_t K, uint32_t T);
  // Invocations per workgroup of the rows-per-invocation texel kernels (a power of two).
  uint32_t texel_lane_width() const;
  // Whether the texel kernels can take this product (type, shape, alignment, device limits).
  bool texel_matmul_ok(GGMLType wtype, WeightLayout layout, const BufferRange& w,
                       const BufferRange& x, uint32_t M, uint32_t K, uint32_t T) const;
  struct RopeKvFusion {
    BufferRange k_cache, v_cache, step;
    RopeKvShape shape;
  };
  // How matmul_texel spreads an M-row product of T tokens: invocations per workgroup, rows per
  // invocation (lanes) or per workgroup (K split), tokens per workgroup, the planar tile.
  struct TexelShape {
    uint32_t wg, rows, nt, rows_per_group, tile_lanes, tile_rows;
    bool subgroup;  // K split reduced by subgroupAdd
  };
  TexelShape texel_shape(GGMLType wtype, WeightLayout layout, uint32_t T) const;
  void matmul_texel(rt::Sequence& s, GGMLType wtype, WeightLayout layout, BufferRange w,
                    BufferRange x, BufferRange y, uint32_t M, uint32_t K, uint32_t T, bool glu,
                    const RopeKvFusion* rope = nullptr, const NormIn* norm_in = nullptr,
                    const NormOut* norm_out = nullptr);
  // get_rows for tables read by the quantized kernels (graph/ops_elementwise.cpp).
  void get_rows_planar(rt::Sequence& s, GGMLType wtype, BufferRange table, BufferRange ids,
                       BufferRange out, uint32_t n_cols, uint32_t n_rows_out,
                       const TablePiece& piece);
  void get_rows_quant(rt::Sequence& s, GGMLType wtype, const QuantKernelFormat& q,
                      BufferRange table, BufferRange ids, BufferRange out, uint32_t n_cols,
                      uint32_t n_rows_out, const TablePiece& piece);
  // The RMSNorm kernel's name suffix ("" or "_rows") and workgroup size for rows of n over
  // `bufs` (graph/ops_attention.cpp).
  std::string norm_kernel(uint32_t n, std::initializer_list<BufferRange> bufs, uint32_t& wg) const;
  std::map<std::vector<float>, rt::Buffer> rope_tables_;  // by contents

  rt::Context& ctx_;
  KernelTuning tuning_;  // what the kernels use (the setters above change it)
};

}  // namespace vkllm
