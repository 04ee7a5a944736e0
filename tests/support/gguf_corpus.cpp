#include "support/gguf_corpus.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "quant/gguf.h"

namespace vkllm::test {

namespace {

// Byte positions of the fields of a valid file (found by walking it without validation).
struct KvPos {
  std::string key;
  size_t key_len = 0;  // position of the uint64 key length
  size_t type = 0;     // position of the uint32 value type
  size_t value = 0;    // position of the value
};
struct TensorPos {
  std::string name;
  size_t name_len = 0;
  size_t n_dims = 0;
  std::vector<size_t> ne;
  size_t type = 0;
  size_t offset = 0;
  uint64_t rel_offset = 0;
  uint64_t n_bytes = 0;
};
struct Layout {
  std::vector<KvPos> kvs;
  std::vector<TensorPos> tensors;
  size_t infos_end = 0;
  size_t data_start = 0;

  const KvPos& kv(std::string_view key) const {
    for (const KvPos& k : kvs) {
      if (k.key == key) return k;
    }
    throw std::logic_error("corpus: no such key");
  }
  const TensorPos& tensor(std::string_view name) const {
    for (const TensorPos& t : tensors) {
      if (t.name == name) return t;
    }
    throw std::logic_error("corpus: no such tensor");
  }
};

template <typename T>
T get(const std::vector<uint8_t>& b, size_t pos) {
  T v;
  std::memcpy(&v, b.data() + pos, sizeof(T));
  return v;
}

template <typename T>
void put(std::vector<uint8_t>& b, size_t pos, T v) {
  std::memcpy(b.data() + pos, &v, sizeof(T));
}

size_t skip_value(const std::vector<uint8_t>& b, size_t pos, uint32_t type) {
  switch (type) {
    case 0:
    case 1:
    case 7:
      return pos + 1;
    case 2:
    case 3:
      return pos + 2;
    case 4:
    case 5:
    case 6:
      return pos + 4;
    case 10:
    case 11:
    case 12:
      return pos + 8;
    case 8:
      return pos + 8 + get<uint64_t>(b, pos);
    case 9: {
      const uint32_t et = get<uint32_t>(b, pos);
      const uint64_t n = get<uint64_t>(b, pos + 4);
      pos += 12;
      for (uint64_t i = 0; i < n; ++i) pos = skip_value(b, pos, et);
      return pos;
    }
  }
  throw std::logic_error("corpus: bad value type in base file");
}

Layout walk(const std::vector<uint8_t>& b) {
  Layout l;
  const uint64_t n_tensors = get<uint64_t>(b, 8);
  const uint64_t n_kv = get<uint64_t>(b, 16);
  size_t pos = 24;
  for (uint64_t i = 0; i < n_kv; ++i) {
    KvPos k;
    k.key_len = pos;
    const uint64_t len = get<uint64_t>(b, pos);
    k.key.assign(reinterpret_cast<const char*>(b.data() + pos + 8), len);
    k.type = pos + 8 + len;
    k.value = k.type + 4;
    pos = skip_value(b, k.value, get<uint32_t>(b, k.type));
    l.kvs.push_back(k);
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorPos t;
    t.name_len = pos;
    const uint64_t len = get<uint64_t>(b, pos);
    t.name.assign(reinterpret_cast<const char*>(b.data() + pos + 8), len);
    t.n_dims = pos + 8 + len;
    const uint32_t n_dims = get<uint32_t>(b, t.n_dims);
    pos = t.n_dims + 4;
    for (uint32_t d = 0; d < n_dims; ++d, pos += 8) t.ne.push_back(pos);
    t.type = pos;
    t.offset = pos + 4;
    t.rel_offset = get<uint64_t>(b, t.offset);
    pos = t.offset + 8;
    l.tensors.push_back(t);
  }
  l.infos_end = pos;
  l.data_start = (pos + 31) / 32 * 32;  // the base file uses alignment 32
  return l;
}

std::vector<uint8_t> base_file() {
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("general.alignment", 32);
  w.set_u32("test.k1", 7);
  w.set_f32("test.k2", 1.5f);
  w.set_bool("test.flag", true);
  w.set_string_array("test.tokens", {"a", "bc", "def"});
  w.set_f32_array("test.scores", {1.0f, 2.0f, 3.0f});
  GGUFArray inner1, inner2, outer;
  inner1.elem_type = inner2.elem_type = GGUFValueType::INT32;
  inner1.ints = {1, 2};
  inner2.ints = {3};
  outer.elem_type = GGUFValueType::ARRAY;
  outer.arrays = {GGUFValue::make_array(inner1), GGUFValue::make_array(inner2)};
  w.set_value("test.nested", GGUFValue::make_array(outer));

  std::vector<uint8_t> t0(8 * 4), t1(4 * 2 * 2 * 2), t2(2 * 34);
  for (size_t i = 0; i < t0.size(); ++i) t0[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < t1.size(); ++i) t1[i] = static_cast<uint8_t>(i * 13 + 5);
  for (size_t i = 0; i < t2.size(); ++i) t2[i] = static_cast<uint8_t>(i * 3 + 2);
  w.add_tensor("t0", GGMLType::F32, {8}, t0);
  w.add_tensor("t1", GGMLType::F16, {4, 2, 2}, t1);
  w.add_tensor("t2", GGMLType::Q8_0, {32, 2}, t2);
  return w.serialize(3);
}

}  // namespace

std::vector<uint8_t> corpus_base_file() {
  return base_file();
}

std::vector<MalformedGGUF> malformed_corpus(bool every_truncation) {
  const std::vector<uint8_t> base = base_file();
  const Layout l = walk(base);
  std::vector<MalformedGGUF> out;

  auto add = [&](std::string desc, std::string expect, std::vector<uint8_t> bytes) {
    out.push_back({std::move(desc), std::move(expect), std::move(bytes)});
  };
  auto patch32 = [&](std::string desc, std::string expect, size_t pos, uint32_t v) {
    std::vector<uint8_t> b = base;
    put<uint32_t>(b, pos, v);
    add(std::move(desc), std::move(expect), std::move(b));
  };
  auto patch64 = [&](std::string desc, std::string expect, size_t pos, uint64_t v) {
    std::vector<uint8_t> b = base;
    put<uint64_t>(b, pos, v);
    add(std::move(desc), std::move(expect), std::move(b));
  };

  // Truncation.
  add("empty file", "truncated header", {});
  add("3-byte file", "truncated header", {'G', 'G', 'U'});
  const size_t last_tensor_end = l.data_start + l.tensors.back().rel_offset + 68;
  for (size_t n = 0; n < l.data_start; ++n) {
    if (!every_truncation && n % 13 != 5 && n != 4 && n != 8 && n != 23 && n != l.infos_end - 1) {
      continue;
    }
    add(fmt::format("truncated at byte {}", n), "",
        std::vector<uint8_t>(base.begin(), base.begin() + n));
  }
  for (const TensorPos& t : l.tensors) {
    const size_t begin = l.data_start + t.rel_offset;
    for (size_t n : {begin + 1, begin + 9}) {
      add(fmt::format("truncated inside the data of tensor '{}' at byte {}", t.name, n),
          "outside the file", std::vector<uint8_t>(base.begin(), base.begin() + n));
    }
  }
  add(fmt::format("truncated one byte before the end of the last tensor ({})", last_tensor_end - 1),
      "outside the file", std::vector<uint8_t>(base.begin(), base.begin() + last_tensor_end - 1));

  // Header.
  patch32("bad magic GGML", "bad magic", 0, 0x4c4d4747);
  patch32("bad magic zero", "bad magic", 0, 0);
  patch32("bad magic byte-swapped", "bad magic", 0, 0x47475546);
  patch32("version 0", "unsupported GGUF version 0", 4, 0);
  patch32("version 1", "version 1 is not supported", 4, 1);
  patch32("version 4", "unsupported GGUF version 4", 4, 4);
  patch32("version 7", "unsupported GGUF version 7", 4, 7);
  patch32("big-endian version 3", "big-endian", 4, 0x03000000);
  patch32("version 0xffffffff", "unsupported GGUF version", 4, 0xffffffffu);
  patch64("tensor count 2^63", "too many tensors", 8, uint64_t{1} << 63);
  patch64("tensor count 2^40", "too many tensors", 8, uint64_t{1} << 40);
  patch64("tensor count 2^64-1", "too many tensors", 8, ~uint64_t{0});
  patch64("kv count 2^63", "too many metadata keys", 16, uint64_t{1} << 63);
  patch64("kv count 2^40", "too many metadata keys", 16, uint64_t{1} << 40);
  patch64("kv count 2^64-1", "too many metadata keys", 16, ~uint64_t{0});
  patch64("kv count 0 (metadata read as tensor infos)", "dimensions", 16, 0);
  {
    std::vector<uint8_t> b = base;
    put<uint64_t>(b, 8, base.size() / 40);
    put<uint64_t>(b, 16, base.size() / 20);
    add("tensor and kv counts that fit only separately", "too many tensors", std::move(b));
  }

  // Metadata.
  const KvPos& arch = l.kv("general.architecture");
  const KvPos& align = l.kv("general.alignment");
  const KvPos& k1 = l.kv("test.k1");
  const KvPos& flag = l.kv("test.flag");
  const KvPos& tokens = l.kv("test.tokens");
  const KvPos& scores = l.kv("test.scores");
  const KvPos& nested = l.kv("test.nested");
  patch64("key length 2^60", "string of length", arch.key_len, uint64_t{1} << 60);
  patch64("key length 2^64-1", "string of length", arch.key_len, ~uint64_t{0});
  patch64("key length one past the end", "string of length", arch.key_len, base.size());
  patch64("string value length 2^60", "string of length", arch.value, uint64_t{1} << 60);
  patch64("string value length 2^64-1", "string of length", arch.value, ~uint64_t{0});
  patch32("value type 13", "unknown value type 13", k1.type, 13);
  patch32("value type 0xffffffff", "unknown value type", k1.type, 0xffffffffu);
  patch32("bool value 2", "bool has value 2", flag.value, 2);
  {
    std::vector<uint8_t> b = base;
    b[flag.value] = 0xff;
    add("bool value 255", "bool has value 255", std::move(b));
  }
  patch32("array element type 13", "unknown array element type 13", tokens.value, 13);
  patch32("array element type 0xffffffff", "unknown array element type", tokens.value, 0xffffffffu);
  patch64("string array length 2^62", "array of", tokens.value + 4, uint64_t{1} << 62);
  patch64("string array length 2^64-1", "array of", tokens.value + 4, ~uint64_t{0});
  patch64("string array element length 2^60", "string of length", tokens.value + 12,
          uint64_t{1} << 60);
  patch64("float array length 2^62", "array of", scores.value + 4, uint64_t{1} << 62);
  patch64("float array length 2^40", "array of", scores.value + 4, uint64_t{1} << 40);
  patch64("nested array length 2^62", "array of", nested.value + 4, uint64_t{1} << 62);
  patch32("nested inner element type 99", "unknown array element type 99", nested.value + 12, 99);
  patch64("nested inner array length 2^62", "array of", nested.value + 16, uint64_t{1} << 62);
  {
    std::vector<uint8_t> b = base;
    b[l.kv("test.k2").key_len + 8 + 6] = '1';  // "test.k2" -> "test.k1"
    add("duplicate metadata key", "duplicate metadata key 'test.k1'", std::move(b));
  }
  patch32("alignment 0", "not a power of two", align.value, 0);
  patch32("alignment 3", "not a power of two", align.value, 3);
  patch32("alignment 48", "not a power of two", align.value, 48);
  patch32("alignment 64 (tensor offsets only 32-aligned)", "not aligned to 64", align.value, 64);
  patch32("alignment of type float32", "expected uint32", align.type, 6);
  {
    GGUFArray a;
    a.elem_type = GGUFValueType::INT8;
    a.ints = {1};
    GGUFValue v = GGUFValue::make_array(a);
    for (int d = 0; d < GGUFFile::kMaxArrayDepth; ++d) {
      GGUFArray outer;
      outer.elem_type = GGUFValueType::ARRAY;
      outer.arrays = {v};
      v = GGUFValue::make_array(outer);
    }
    GGUFWriter w;
    w.set_value("test.deep", v);
    add(fmt::format("arrays nested {} deep", GGUFFile::kMaxArrayDepth + 1), "nested deeper",
        w.serialize());
  }

  // Tensor infos.
  const TensorPos& t0 = l.tensor("t0");
  const TensorPos& t1 = l.tensor("t1");
  const TensorPos& t2 = l.tensor("t2");
  patch64("tensor name length 2^60", "string of length", t1.name_len, uint64_t{1} << 60);
  patch64("tensor name length 2^64-1", "string of length", t1.name_len, ~uint64_t{0});
  patch32("tensor n_dims 0", "has 0 dimensions", t1.n_dims, 0);
  patch32("tensor n_dims 5", "has 5 dimensions", t1.n_dims, 5);
  patch32("tensor n_dims 0xffffffff", "dimensions", t1.n_dims, 0xffffffffu);
  patch64("tensor dim 0 is 0", "dimension 0 is 0", t1.ne[0], 0);
  patch64("tensor dim 1 is 0", "dimension 1 is 0", t1.ne[1], 0);
  {
    std::vector<uint8_t> b = base;
    for (size_t p : t1.ne) put<uint64_t>(b, p, uint64_t{1} << 32);
    add("tensor dims 2^32 x 2^32 x 2^32", "element count overflows", std::move(b));
  }
  {
    std::vector<uint8_t> b = base;
    put<uint64_t>(b, t1.ne[0], uint64_t{1} << 62);
    put<uint64_t>(b, t1.ne[1], 4);
    add("tensor element count 2^64", "element count overflows", std::move(b));
  }
  patch64("tensor byte size 2^64 (F32, 2^62 elements)", "byte size overflows", t0.ne[0],
          uint64_t{1} << 62);
  patch64("tensor dim 2^40 (data past the end)", "outside the file", t0.ne[0], uint64_t{1} << 40);
  patch64("Q8_0 row length 33", "not a multiple", t2.ne[0], 33);
  patch64("Q8_0 row length 64 (data past the end)", "outside the file", t2.ne[0], 64);
  patch32("tensor type 99", "unknown type id 99", t1.type, 99);
  patch32("tensor type 4 (retired Q4_2)", "unknown type id 4", t1.type, 4);
  patch32("tensor type 31 (retired Q4_0_4_4)", "unknown type id 31", t1.type, 31);
  patch32("tensor type 0xffffffff", "unknown type id", t1.type, 0xffffffffu);
  patch64("tensor offset +1 (misaligned)", "not aligned to 32", t1.offset, t1.rel_offset + 1);
  patch64("tensor offset +16 (misaligned)", "not aligned to 32", t2.offset, t2.rel_offset + 16);
  patch64("tensor offset 2^40 (past EOF)", "outside the file", t2.offset, uint64_t{1} << 40);
  patch64("tensor offset near 2^64 (overflow)", "outside the file", t2.offset,
          ~uint64_t{0} & ~uint64_t{31});
  patch64("tensor offset at EOF", "outside the file", t2.offset,
          (base.size() - l.data_start + 31) / 32 * 32);
  patch64("overlapping tensors", "overlap", t1.offset, 0);
  {
    std::vector<uint8_t> b = base;
    b[t1.name_len + 8 + 1] = '0';  // "t1" -> "t0"
    add("duplicate tensor name", "duplicate tensor name 't0'", std::move(b));
  }
  {
    std::vector<uint8_t> b = base;
    b[t1.name_len + 8] = '\n';  // a name with a control character stays on one line
    b[t2.name_len + 8] = '\n';
    b[t2.name_len + 9] = '1';
    add("duplicate tensor name with a newline", "duplicate tensor name '\\x0a1'", std::move(b));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> write_malformed_corpus(const std::string& dir,
                                                                        bool every_truncation) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::vector<std::pair<std::string, std::string>> files;
  size_t i = 0;
  for (const MalformedGGUF& m : malformed_corpus(every_truncation)) {
    std::string slug;
    for (char ch : m.description) {
      const bool ok =
          (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
      if (ok) {
        slug.push_back(ch);
      } else if (!slug.empty() && slug.back() != '-') {
        slug.push_back('-');
      }
      if (slug.size() >= 48) break;
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    const std::string path = (fs::path(dir) / fmt::format("{:03}-{}.gguf", i++, slug)).string();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(m.bytes.data()),
            static_cast<std::streamsize>(m.bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
    files.emplace_back(path, m.description);
  }
  return files;
}

}  // namespace vkllm::test
