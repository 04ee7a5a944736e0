// Cross-checks vkllm's CPU quantize/dequantize (quant/formats.h) against a real ggml build,
// loaded at run time with dlopen() (no ggml headers; the few C entry points are declared here).
//
// For every vkllm weight format and several seeded random matrices it compares
//   (a) vkllm quantize bytes with ggml's quantize_row_<x>_ref (and, for IQ4_NL, additionally with
//       ggml_quantize_chunk, which runs the 7-try scale search that vkllm implements), and
//   (b) vkllm dequantize with ggml's dequantize_row_<x>, bitwise, on vkllm's blocks and on random
//       valid blocks (random bytes with finite fp16/bf16 fields).
// Prints a markdown table and exits 1 if anything differs (2 on usage/load errors).
//
// Usage: ggml_crosscheck path/to/libggml-base.so
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/formats.h"
#include "quant/types.h"

namespace {

using vkllm::GGMLType;
using vkllm::WeightFormat;

// ggml's C ABI (block pointers are passed as void*; blocks are plain packed bytes).
using QuantizeRowRef = void (*)(const float* x, void* y, int64_t k);
using DequantizeRow = void (*)(const void* x, float* y, int64_t k);
using QuantizeChunk = size_t (*)(int type, const float* src, void* dst, int64_t start,
                                 int64_t nrows, int64_t n_per_row, const float* imatrix);
using QuantizeInit = void (*)(int type);
// Only the first two members of struct ggml_type_traits are read (used as a sanity check that the
// type ids mean what quant/types.h says).
struct TypeTraitsPrefix {
  const char* type_name;
  int64_t blck_size;
};
using GetTypeTraits = const TypeTraitsPrefix* (*)(int type);

struct Lib {
  void* handle = nullptr;
  QuantizeChunk quantize_chunk = nullptr;
  QuantizeInit quantize_init = nullptr;
  GetTypeTraits get_type_traits = nullptr;
  void* sym(const std::string& name) const { return dlsym(handle, name.c_str()); }
};

// Byte offsets of the fp16 fields in one block (fixed up to be finite in random blocks).
std::vector<int> fp16_offsets(GGMLType t) {
  switch (t) {
    case GGMLType::Q4_0: case GGMLType::Q5_0: case GGMLType::Q8_0: case GGMLType::IQ4_NL:
    case GGMLType::IQ4_XS:
      return {0};
    case GGMLType::Q4_1: case GGMLType::Q5_1: case GGMLType::Q4_K: case GGMLType::Q5_K:
      return {0, 2};
    case GGMLType::Q2_K: return {80, 82};
    case GGMLType::Q3_K: return {108};
    case GGMLType::Q6_K: return {208};
    default: return {};
  }
}

// ggml's dequantize for a format: dequantize_row_<x>, or the F16/BF16 row converters; F32 is the
// identity (a memcpy).
struct GgmlFns {
  QuantizeRowRef quantize_ref = nullptr;  // nullptr: use ggml_quantize_chunk
  DequantizeRow dequantize = nullptr;     // nullptr for F32 (identity)
  std::string quantize_name, dequantize_name;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool resolve(const Lib& lib, const WeightFormat& f, GgmlFns& out, std::string& err) {
  const std::string n = f.name;  // "Q4_K": ggml spells the K upper case, the rest lower case
  std::string ggml = lower(n);
  if (ggml.size() > 2 && ggml.substr(ggml.size() - 2) == "_k") ggml[ggml.size() - 1] = 'K';
  switch (f.type) {
    case GGMLType::F32:
      out.quantize_name = "ggml_quantize_chunk";
      out.dequantize_name = "(identity)";
      return true;
    case GGMLType::F16:
      out.quantize_name = "ggml_quantize_chunk";
      out.dequantize_name = "ggml_fp16_to_fp32_row";
      break;
    case GGMLType::BF16:
      out.quantize_name = "ggml_quantize_chunk";
      out.dequantize_name = "ggml_bf16_to_fp32_row";
      break;
    default:
      out.quantize_name = "quantize_row_" + ggml + "_ref";
      out.dequantize_name = "dequantize_row_" + ggml;
      out.quantize_ref = reinterpret_cast<QuantizeRowRef>(lib.sym(out.quantize_name));
      if (!out.quantize_ref) { err = out.quantize_name + " not exported"; return false; }
  }
  out.dequantize = reinterpret_cast<DequantizeRow>(lib.sym(out.dequantize_name));
  if (!out.dequantize) { err = out.dequantize_name + " not exported"; return false; }
  return true;
}

// ------------------------------------------------------------------ test matrices
struct Matrix {
  std::string name;
  int64_t rows, cols;
  std::vector<float> x;
};

std::vector<Matrix> make_matrices(uint32_t block_size, uint64_t seed) {
  std::vector<Matrix> ms;
  const int64_t rows = 6;
  for (int64_t nblocks = 2; nblocks <= 4; ++nblocks) {
    // Block size 1 (F32/F16/BF16): use 2-4 x 32 columns so rows are not trivially short.
    const int64_t cols = nblocks * (block_size == 1 ? 32 : block_size);
    std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(nblocks));
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_real_distribution<float> unif(-1.0f, 1.0f);
    auto add = [&](std::string name, auto gen) {
      Matrix m{name + " " + std::to_string(rows) + "x" + std::to_string(cols), rows, cols, {}};
      m.x.resize(static_cast<size_t>(rows * cols));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) m.x[static_cast<size_t>(r * cols + c)] = gen(r, c);
      ms.push_back(std::move(m));
    };
    add("gaussian", [&](int64_t, int64_t) { return gauss(rng); });
    add("gaussian*1e-3", [&](int64_t, int64_t) { return 1e-3f * gauss(rng); });
    add("uniform", [&](int64_t, int64_t) { return unif(rng); });
    add("uniform[0,5)", [&](int64_t, int64_t) { return 2.5f * (unif(rng) + 1.0f); });
    add("outliers", [&](int64_t, int64_t) {
      const float v = gauss(rng);
      return (rng() % 17 == 0) ? v * 40.0f : v;
    });
    const int64_t zb = block_size == 1 ? 32 : block_size;
    add("zero blocks", [&](int64_t r, int64_t c) {
      const int64_t b = c / zb;
      return ((b + r) % 2 == 0) ? 0.0f : gauss(rng);
    });
    add("constant rows", [&](int64_t r, int64_t) { return 0.37f * static_cast<float>(r - 2); });
    add("tiny 1e-20", [&](int64_t, int64_t) { return 1e-20f * gauss(rng); });
    add("large 3e4", [&](int64_t, int64_t) { return 3e4f * gauss(rng); });
    add("one spike", [&](int64_t, int64_t c) { return c % 37 == 5 ? 100.0f : 0.01f * gauss(rng); });
    add("small ints", [&](int64_t, int64_t) { return static_cast<float>(int(rng() % 15) - 7); });
  }
  return ms;
}

// Random block bytes whose fp16 (or bf16) fields are finite, so dequantize is well defined.
std::vector<uint8_t> random_blocks(const WeightFormat& f, int64_t nblocks, std::mt19937_64& rng) {
  std::vector<uint8_t> q(static_cast<size_t>(nblocks) * f.block_bytes);
  for (auto& b : q) b = static_cast<uint8_t>(rng());
  auto fix_f16 = [&](uint8_t* p) {  // exponent 31 is Inf/NaN: clear the top exponent bit
    uint16_t h;
    std::memcpy(&h, p, 2);
    if ((h & 0x7C00) == 0x7C00) h &= static_cast<uint16_t>(~0x4000);
    std::memcpy(p, &h, 2);
  };
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* blk = q.data() + b * f.block_bytes;
    if (f.type == GGMLType::F16) {
      fix_f16(blk);
    } else if (f.type == GGMLType::BF16) {
      uint16_t h;
      std::memcpy(&h, blk, 2);
      if ((h & 0x7F80) == 0x7F80) h &= static_cast<uint16_t>(~0x4000);
      std::memcpy(blk, &h, 2);
    } else if (f.type == GGMLType::F32) {
      uint32_t u;
      std::memcpy(&u, blk, 4);
      if ((u & 0x7F800000u) == 0x7F800000u) u &= ~0x40000000u;
      std::memcpy(blk, &u, 4);
    } else {
      for (int off : fp16_offsets(f.type)) fix_f16(blk + off);
    }
  }
  return q;
}

// ------------------------------------------------------------------ comparison bookkeeping
struct Tally {
  int64_t equal = 0, total = 0;
  std::string first;  // first mismatch detail
  bool ok() const { return equal == total; }
};

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", p[i]);
    s += buf;
  }
  return s;
}

// Compares quantized bytes block by block.
void compare_blocks(const WeightFormat& f, const std::string& what, const std::vector<uint8_t>& a,
                    const std::vector<uint8_t>& b, Tally& t) {
  const size_t bb = f.block_bytes;
  const size_t n = a.size() / bb;
  for (size_t i = 0; i < n; ++i) {
    ++t.total;
    const uint8_t* pa = a.data() + i * bb;
    const uint8_t* pb = b.data() + i * bb;
    if (std::memcmp(pa, pb, bb) == 0) {
      ++t.equal;
      continue;
    }
    if (t.first.empty()) {
      size_t j = 0;
      while (pa[j] == pb[j]) ++j;
      const size_t lo = j >= 4 ? j - 4 : 0, len = std::min<size_t>(12, bb - lo);
      t.first = what + ", block " + std::to_string(i) + ", byte " + std::to_string(j) +
                ": vkllm " + hex(pa + lo, len) + " vs ggml " + hex(pb + lo, len) + " (from byte " +
                std::to_string(lo) + ")";
    }
  }
}

// Compares dequantized floats bitwise, tallying per block.
void compare_floats(const WeightFormat& f, const std::string& what, const std::vector<float>& a,
                    const std::vector<float>& b, Tally& t) {
  const int64_t bs = f.block_size == 1 ? 32 : f.block_size;
  const int64_t n = static_cast<int64_t>(a.size());
  for (int64_t s = 0; s < n; s += bs) {
    ++t.total;
    const size_t len = static_cast<size_t>(std::min(bs, n - s)) * sizeof(float);
    if (std::memcmp(a.data() + s, b.data() + s, len) == 0) {
      ++t.equal;
      continue;
    }
    if (t.first.empty()) {
      int64_t j = s;
      while (std::memcmp(&a[j], &b[j], sizeof(float)) == 0) ++j;
      char buf[160];
      std::snprintf(buf, sizeof buf, ", element %lld: vkllm %.9g vs ggml %.9g",
                    static_cast<long long>(j), static_cast<double>(a[static_cast<size_t>(j)]),
                    static_cast<double>(b[static_cast<size_t>(j)]));
      t.first = what + buf;
    }
  }
}

struct Row {
  std::string format;
  std::string reference;  // what the quantize column was compared against
  Tally quant, dequant;
  bool informational = false;  // documented difference; does not fail the run
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s path/to/libggml-base.so\n", argv[0]);
    return 2;
  }
  Lib lib;
  lib.handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle) {
    std::fprintf(stderr, "error: dlopen %s: %s\n", argv[1], dlerror());
    return 2;
  }
  lib.quantize_chunk = reinterpret_cast<QuantizeChunk>(lib.sym("ggml_quantize_chunk"));
  lib.quantize_init = reinterpret_cast<QuantizeInit>(lib.sym("ggml_quantize_init"));
  lib.get_type_traits = reinterpret_cast<GetTypeTraits>(lib.sym("ggml_get_type_traits"));
  if (!lib.quantize_chunk || !lib.quantize_init || !lib.get_type_traits) {
    std::fprintf(stderr, "error: %s lacks ggml_quantize_chunk/ggml_quantize_init/"
                 "ggml_get_type_traits\n", argv[1]);
    return 2;
  }

  std::vector<Row> rows;
  bool load_error = false;
  for (const WeightFormat& f : vkllm::weight_formats()) {
    const int tid = static_cast<int>(f.type);
    // Sanity: ggml's name and block size for this id must match vkllm's.
    const TypeTraitsPrefix* tr = lib.get_type_traits(tid);
    if (!tr || !tr->type_name || lower(tr->type_name) != lower(f.name) ||
        tr->blck_size != static_cast<int64_t>(f.block_size)) {
      std::fprintf(stderr, "error: ggml type id %d is '%s' (block %lld), vkllm says %s (block %u)\n",
                   tid, tr && tr->type_name ? tr->type_name : "?",
                   tr ? static_cast<long long>(tr->blck_size) : -1LL, f.name, f.block_size);
      load_error = true;
      continue;
    }
    GgmlFns g;
    std::string err;
    if (!resolve(lib, f, g, err)) {
      std::fprintf(stderr, "error: %s: %s\n", f.name, err.c_str());
      load_error = true;
      continue;
    }
    lib.quantize_init(tid);

    const bool iq4nl = f.type == GGMLType::IQ4_NL;
    Row main{f.name, g.quantize_name, {}, {}, iq4nl};
    Row search{f.name, "ggml_quantize_chunk (7-try search)", {}, {}, false};
    std::mt19937_64 rng(0x5eed0000u + static_cast<uint64_t>(tid));

    for (uint64_t seed = 1; seed <= 4; ++seed) {
      for (const Matrix& m : make_matrices(f.block_size, seed + 100u * static_cast<uint64_t>(tid))) {
        const int64_t n = m.rows * m.cols;
        const std::string what = m.name + " seed " + std::to_string(seed);
        const std::vector<uint8_t> mine = vkllm::quantize_rows(f.type, m.x.data(), m.rows, m.cols);
        const size_t qbytes = mine.size();

        // (a) quantize: ggml reference, row by row (as ggml calls it).
        std::vector<uint8_t> ref(qbytes, 0xAA);
        const size_t row_bytes = qbytes / static_cast<size_t>(m.rows);
        if (g.quantize_ref) {
          for (int64_t r = 0; r < m.rows; ++r)
            g.quantize_ref(m.x.data() + r * m.cols, ref.data() + r * row_bytes, m.cols);
        } else {
          const size_t w = lib.quantize_chunk(tid, m.x.data(), ref.data(), 0, m.rows, m.cols, nullptr);
          if (w != qbytes) {
            std::fprintf(stderr, "error: %s: ggml_quantize_chunk wrote %zu bytes, vkllm %zu\n",
                         f.name, w, qbytes);
            return 2;
          }
        }
        compare_blocks(f, what, mine, ref, main.quant);
        if (iq4nl) {
          std::vector<uint8_t> chunk(qbytes, 0xAA);
          const size_t w = lib.quantize_chunk(tid, m.x.data(), chunk.data(), 0, m.rows, m.cols, nullptr);
          if (w != qbytes) {
            std::fprintf(stderr, "error: %s: ggml_quantize_chunk wrote %zu bytes, vkllm %zu\n",
                         f.name, w, qbytes);
            return 2;
          }
          compare_blocks(f, what, mine, chunk, search.quant);
        }

        // (b) dequantize vkllm's blocks (and ggml's, when they differ) with both.
        auto dq_both = [&](const std::vector<uint8_t>& q, const std::string& w, Tally& t) {
          const std::vector<float> a = vkllm::dequantize_all(f.type, q, n);
          std::vector<float> b(static_cast<size_t>(n));
          if (g.dequantize) {
            g.dequantize(q.data(), b.data(), n);
          } else {
            std::memcpy(b.data(), q.data(), static_cast<size_t>(n) * sizeof(float));
          }
          compare_floats(f, w, a, b, t);
        };
        dq_both(mine, "vkllm blocks of " + what, main.dequant);
        if (ref != mine) dq_both(ref, "ggml blocks of " + what, main.dequant);
      }
      // (b) random valid blocks.
      for (int64_t nb : {1, 7, 64}) {
        const std::vector<uint8_t> q = random_blocks(f, nb, rng);
        const int64_t n = nb * f.block_size;
        const std::vector<float> a = vkllm::dequantize_all(f.type, q, n);
        std::vector<float> b(static_cast<size_t>(n));
        if (g.dequantize) {
          g.dequantize(q.data(), b.data(), n);
        } else {
          std::memcpy(b.data(), q.data(), static_cast<size_t>(n) * sizeof(float));
        }
        compare_floats(f, "random blocks seed " + std::to_string(seed), a, b, main.dequant);
      }
    }
    rows.push_back(main);
    if (iq4nl) {
      search.dequant = main.dequant;
      rows.push_back(search);
    }
  }

  std::printf("| format | quantize compared with | quantize identical (blocks) | "
              "dequantize identical (blocks) | first mismatch |\n");
  std::printf("|---|---|---:|---:|---|\n");
  bool fail = load_error;
  for (const Row& r : rows) {
    auto cell = [](const Tally& t) {
      return std::to_string(t.equal) + " / " + std::to_string(t.total) + (t.ok() ? "" : " ✗");
    };
    std::string detail = !r.quant.first.empty() ? "quantize: " + r.quant.first
                         : !r.dequant.first.empty() ? "dequantize: " + r.dequant.first
                                                    : "-";
    if (r.informational && !r.quant.ok()) detail += " (expected: documented deviation)";
    std::printf("| %s | %s | %s | %s | %s |\n", r.format.c_str(), r.reference.c_str(),
                cell(r.quant).c_str(), cell(r.dequant).c_str(), detail.c_str());
    if (!r.dequant.ok() || (!r.quant.ok() && !r.informational)) fail = true;
  }
  std::printf("\n%s\n", fail ? "RESULT: MISMATCH" : "RESULT: all identical");
  return fail ? 1 : 0;
}
