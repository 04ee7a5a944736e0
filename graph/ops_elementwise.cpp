// Ops for small element-wise and row kernels: embedding gather, scale, copy, row softmax, SwiGLU.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "graph/ops.h"
#include "quant/formats.h"

namespace vkllm {

void Ops::get_rows(rt::Sequence& s, GGMLType wtype, BufferRange table, BufferRange ids,
                   BufferRange out, uint32_t n_cols, uint32_t n_rows_out, const TablePiece& piece) {
  if (piece.layout == WeightLayout::Planar) {
    get_rows_planar(s, wtype, table, ids, out, n_cols, n_rows_out, piece);
    return;
  }
  if (const auto q = quant_kernel_format(wtype)) {
    get_rows_quant(s, wtype, *q, table, ids, out, n_cols, n_rows_out, piece);
    return;
  }
  const bool f16 = wtype == GGMLType::F16;
  if (wtype != GGMLType::F32 && !f16)
    throw std::invalid_argument("get_rows: unsupported table type " + type_name(wtype) +
                                " (F32, F16, BF16 and the GGUF block formats of quant/formats.h "
                                "are supported)");
  if (n_cols == 0 || n_rows_out == 0) return;
  const uint64_t table_bytes = range_bytes(table);
  const uint64_t table_rows = table_bytes / (uint64_t{n_cols} * (f16 ? 2 : 4));
  if (f16 && table_bytes % 4 != 0) {
    // The kernel reads whole 32-bit words: widen the range over the last half word.
    if (!table.buffer || table.offset + table_bytes + 2 > table.buffer->size())
      throw std::invalid_argument("get_rows: F16 table range must be followed by 2 padding bytes");
    table.size = table_bytes + 2;
  }
  struct {
    uint32_t n_cols, n_rows_out, n_table_rows, row0, zero_past;
  } push{n_cols, n_rows_out, static_cast<uint32_t>(std::min<uint64_t>(table_rows, UINT32_MAX)),
         piece.row0, piece.zero_past ? 1u : 0u};
  const char* name = f16 ? "get_rows_f16" : "get_rows_f32";
  const auto& p = ctx_.pipeline({name, 3, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {table, ids, out}, push,
             groups_1d(uint64_t{n_cols} * n_rows_out, tuning_.elementwise_wg), name);
}

// Planar tables: the planes bound as uvec4 texel buffers as matmul binds them (ops_matmul.cpp),
// one invocation per 32-element block of an output row.
void Ops::get_rows_planar(rt::Sequence& s, GGMLType wtype, BufferRange table, BufferRange ids,
                          BufferRange out, uint32_t n_cols, uint32_t n_rows_out,
                          const TablePiece& piece) {
  const uint32_t n_table_rows = piece.n_rows;
  if (!has_planar_layout(wtype) || n_cols % 32 != 0 || n_cols % weight_format(wtype)->block_size)
    throw std::invalid_argument(
        "get_rows: a planar table must be of a planar format with rows of "
        "whole blocks (32 elements, 256 for K-quants), not " +
        type_name(wtype) + " of " + std::to_string(n_cols));
  if (n_cols == 0 || n_rows_out == 0) return;
  const PlanarParams pp = planar_params(wtype);
  const PlanarShape ps = planar_shape(wtype, n_table_rows, n_cols, pp);
  if (range_bytes(table) < ps.total_bytes)
    throw std::invalid_argument("get_rows: planar table range smaller than its rows");
  std::vector<BufferRange> binds = {BufferRange(*table.buffer, table.offset, ps.quant_bytes)};
  std::vector<VkFormat> texel = {VK_FORMAT_R32G32B32A32_UINT};
  if (ps.scale_bytes) {
    binds.emplace_back(*table.buffer, table.offset + ps.scale_offset, ps.scale_bytes);
    texel.push_back(VK_FORMAT_R32G32B32A32_UINT);
  }
  binds.insert(binds.end(), {ids, out});
  struct {
    uint32_t n_cols, n_rows_out, n_table_rows, row0, zero_past;
  } push{n_cols, n_rows_out, n_table_rows, piece.row0, piece.zero_past ? 1u : 0u};
  const std::string name = std::string("get_rows_planar_") + planar_kernel(wtype);
  rt::PipelineDesc desc{name,
                        static_cast<uint32_t>(binds.size()),
                        sizeof(push),
                        {tuning_.elementwise_wg, pp.lanes, pp.lane_rows},
                        {}};
  desc.texel = texel;
  const auto& p = ctx_.pipeline(desc);
  s.dispatch(p, binds, &push, sizeof(push),
             groups_1d(uint64_t{n_cols} / 32 * n_rows_out, tuning_.elementwise_wg), name.c_str());
}

// Quantized tables: get_rows_<glsl>, one invocation per 32-element group of an output row.
void Ops::get_rows_quant(rt::Sequence& s, GGMLType wtype, const QuantKernelFormat& q,
                         BufferRange table, BufferRange ids, BufferRange out, uint32_t n_cols,
                         uint32_t n_rows_out, const TablePiece& piece) {
  if (n_cols % q.block != 0)
    throw std::invalid_argument(
        "get_rows: " + type_name(wtype) + " tables need n_cols to be a multiple of " +
        std::to_string(q.block) + " (n_cols = " + std::to_string(n_cols) + ")");
  if (n_cols == 0 || n_rows_out == 0) return;
  const uint64_t table_bytes = range_bytes(table);
  const uint64_t row_bytes = uint64_t{n_cols} / q.block * q.block_bytes;
  const uint64_t table_rows = table_bytes / row_bytes;
  const uint64_t used = table_rows * row_bytes;
  if (used == 0) {
    table.size = VK_WHOLE_SIZE;  // no rows: every id writes zeros; bind whatever is there
  } else {
    // The kernel reads whole 32-bit words: widen the range over a last half word.
    const uint64_t words = (used + 3) / 4 * 4;
    if (!table.buffer || table.offset + words > table.buffer->size())
      throw std::invalid_argument("get_rows: " + type_name(wtype) +
                                  " table range must be followed by 2 padding bytes");
    table.size = words;
  }
  struct {
    uint32_t n_cols, n_rows_out, n_table_rows, row0, zero_past;
  } push{n_cols, n_rows_out, static_cast<uint32_t>(std::min<uint64_t>(table_rows, UINT32_MAX)),
         piece.row0, piece.zero_past ? 1u : 0u};
  const std::string name = std::string("get_rows_") + q.glsl;
  const auto& p = ctx_.pipeline({name, 3, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {table, ids, out}, push,
             groups_1d(uint64_t{n_cols} / 32 * n_rows_out, tuning_.elementwise_wg), name.c_str());
}

void Ops::scale(rt::Sequence& s, BufferRange x, BufferRange y, uint32_t n, float factor) {
  if (n == 0) return;
  struct {
    uint32_t n;
    float s;
  } push{n, factor};
  const auto& p = ctx_.pipeline({"scale", 2, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {x, y}, push, groups_1d(n, tuning_.elementwise_wg), "scale");
}

void Ops::copy(rt::Sequence& s, BufferRange src, BufferRange dst, uint32_t n) {
  if (n == 0) return;
  struct {
    uint32_t n;
  } push{n};
  const auto& p = ctx_.pipeline({"copy", 2, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {src, dst}, push, groups_1d(n, tuning_.elementwise_wg), "copy");
}

void Ops::softmax(rt::Sequence& s, BufferRange x, BufferRange y, uint32_t n_cols, uint32_t n_rows,
                  float scale) {
  if (n_cols == 0) throw std::invalid_argument("softmax: n_cols must be positive");
  if (n_rows == 0) return;
  struct {
    uint32_t n_cols, rows;
    float scale;
  } push{n_cols, n_rows, scale};
  const auto& info = ctx_.info();
  uint32_t wg = 1;
  while (wg * 2 <= std::min({128u, info.max_workgroup_size[0], info.max_workgroup_invocations}))
    wg *= 2;
  const auto& p = ctx_.pipeline({"softmax", 2, sizeof(push), {wg}});
  s.dispatch(p, {x, y}, push, groups_1d(uint64_t{n_rows} * wg, wg), "softmax");
}

void Ops::swiglu(rt::Sequence& s, BufferRange gate, BufferRange up, BufferRange out, uint32_t n) {
  if (n == 0) return;
  struct {
    uint32_t n;
  } push{n};
  const auto& p = ctx_.pipeline({"swiglu", 3, sizeof(push), {tuning_.elementwise_wg}});
  s.dispatch(p, {gate, up, out}, push, groups_1d(n, tuning_.elementwise_wg), "swiglu");
}

}  // namespace vkllm
