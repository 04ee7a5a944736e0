#include "quant/gguf.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

namespace vkllm {

static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint32_t kMaxValueType = 12;
constexpr uint64_t kHeaderSize = 24;        // magic, version, tensor count, kv count
constexpr uint64_t kMinKvSize = 8 + 4 + 1;  // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoSize = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset
constexpr const char* kAlignmentKey = "general.alignment";

// Encoded size of one scalar, or the minimum encoded size of a string/array element.
uint64_t min_encoded_size(GGUFValueType t) {
  switch (t) {
    case GGUFValueType::UINT8:
    case GGUFValueType::INT8:
    case GGUFValueType::BOOL:
      return 1;
    case GGUFValueType::UINT16:
    case GGUFValueType::INT16:
      return 2;
    case GGUFValueType::UINT32:
    case GGUFValueType::INT32:
    case GGUFValueType::FLOAT32:
      return 4;
    case GGUFValueType::UINT64:
    case GGUFValueType::INT64:
    case GGUFValueType::FLOAT64:
    case GGUFValueType::STRING:
      return 8;
    case GGUFValueType::ARRAY:
      return 12;
  }
  return 1;
}

bool is_unsigned(GGUFValueType t) {
  return t == GGUFValueType::UINT8 || t == GGUFValueType::UINT16 || t == GGUFValueType::UINT32 ||
         t == GGUFValueType::UINT64;
}
bool is_signed(GGUFValueType t) {
  return t == GGUFValueType::INT8 || t == GGUFValueType::INT16 || t == GGUFValueType::INT32 ||
         t == GGUFValueType::INT64;
}
bool is_float(GGUFValueType t) {
  return t == GGUFValueType::FLOAT32 || t == GGUFValueType::FLOAT64;
}

// Bounds-checked little-endian reader over [base, base + size). `ctx` names the item being read
// for error messages.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size) : base_(base), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  void set_context(std::string ctx) { ctx_ = std::move(ctx); }
  const std::string& context() const { return ctx_; }

  [[noreturn]] void fail(std::string_view what) const {
    throw GGUFError(fmt::format("{}: {}", ctx_, what));
  }

  template <typename T>
  T read() {
    if (sizeof(T) > remaining()) {
      throw GGUFError(fmt::format("truncated: {} runs past end of file", ctx_));
    }
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string() {
    const uint64_t len = read<uint64_t>();
    if (len > remaining()) {
      fail(fmt::format("string of length {} runs past end of file", len));
    }
    std::string s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string ctx_;
};

GGUFValueType read_value_type(Cursor& c, const char* what) {
  const uint32_t raw = c.read<uint32_t>();
  if (raw > kMaxValueType) c.fail(fmt::format("unknown {} {}", what, raw));
  return static_cast<GGUFValueType>(raw);
}

GGUFValue read_value(Cursor& c, GGUFValueType type, int depth);

GGUFArray read_array(Cursor& c, int depth) {
  if (depth >= GGUFFile::kMaxArrayDepth) {
    c.fail(fmt::format("arrays nested deeper than {} levels", GGUFFile::kMaxArrayDepth));
  }
  GGUFArray a;
  a.elem_type = read_value_type(c, "array element type");
  const uint64_t n = c.read<uint64_t>();
  if (n > c.remaining() / min_encoded_size(a.elem_type)) {
    c.fail(fmt::format("array of {} elements runs past end of file", n));
  }
  switch (a.elem_type) {
    case GGUFValueType::UINT8:
      a.uints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.uints.push_back(c.read<uint8_t>());
      break;
    case GGUFValueType::UINT16:
      a.uints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.uints.push_back(c.read<uint16_t>());
      break;
    case GGUFValueType::UINT32:
      a.uints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.uints.push_back(c.read<uint32_t>());
      break;
    case GGUFValueType::UINT64:
      a.uints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.uints.push_back(c.read<uint64_t>());
      break;
    case GGUFValueType::INT8:
      a.ints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.ints.push_back(c.read<int8_t>());
      break;
    case GGUFValueType::INT16:
      a.ints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.ints.push_back(c.read<int16_t>());
      break;
    case GGUFValueType::INT32:
      a.ints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.ints.push_back(c.read<int32_t>());
      break;
    case GGUFValueType::INT64:
      a.ints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.ints.push_back(c.read<int64_t>());
      break;
    case GGUFValueType::FLOAT32:
      a.f32s.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.f32s.push_back(c.read<float>());
      break;
    case GGUFValueType::FLOAT64:
      a.f64s.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.f64s.push_back(c.read<double>());
      break;
    case GGUFValueType::BOOL:
      a.bools.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        const uint8_t b = c.read<uint8_t>();
        if (b > 1) c.fail(fmt::format("bool array element {} has value {}", i, b));
        a.bools.push_back(b);
      }
      break;
    case GGUFValueType::STRING:
      a.strings.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.strings.push_back(c.read_string());
      break;
    case GGUFValueType::ARRAY:
      a.arrays.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.arrays.push_back(read_value(c, a.elem_type, depth + 1));
      break;
  }
  return a;
}

GGUFValue read_value(Cursor& c, GGUFValueType type, int depth) {
  GGUFValue v;
  v.type = type;
  switch (type) {
    case GGUFValueType::UINT8:
      v.data = uint64_t{c.read<uint8_t>()};
      break;
    case GGUFValueType::UINT16:
      v.data = uint64_t{c.read<uint16_t>()};
      break;
    case GGUFValueType::UINT32:
      v.data = uint64_t{c.read<uint32_t>()};
      break;
    case GGUFValueType::UINT64:
      v.data = c.read<uint64_t>();
      break;
    case GGUFValueType::INT8:
      v.data = int64_t{c.read<int8_t>()};
      break;
    case GGUFValueType::INT16:
      v.data = int64_t{c.read<int16_t>()};
      break;
    case GGUFValueType::INT32:
      v.data = int64_t{c.read<int32_t>()};
      break;
    case GGUFValueType::INT64:
      v.data = c.read<int64_t>();
      break;
    case GGUFValueType::FLOAT32:
      v.data = double{c.read<float>()};
      break;
    case GGUFValueType::FLOAT64:
      v.data = c.read<double>();
      break;
    case GGUFValueType::BOOL: {
      const uint8_t b = c.read<uint8_t>();
      if (b > 1) c.fail(fmt::format("bool has value {}", b));
      v.data = b != 0;
      break;
    }
    case GGUFValueType::STRING:
      v.data = c.read_string();
      break;
    case GGUFValueType::ARRAY:
      v.data = std::make_shared<const GGUFArray>(read_array(c, depth));
      break;
  }
  return v;
}

// Names from a file go into one-line error messages: escape control and non-ASCII bytes and cap
// the length.
std::string printable(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
      out.push_back(static_cast<char>(ch));
    } else {
      out += fmt::format("\\x{:02x}", ch);
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

std::string tensor_label(std::string_view name) {
  return fmt::format("tensor '{}'", printable(name));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GGUFValue

std::string value_type_name(GGUFValueType type) {
  static constexpr const char* kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                           "int32",  "float32", "bool",   "string", "array",
                                           "uint64", "int64",   "float64"};
  const auto raw = static_cast<uint32_t>(type);
  if (raw > kMaxValueType) return fmt::format("unknown({})", raw);
  return kNames[raw];
}

bool is_integer_type(GGUFValueType type) {
  return is_unsigned(type) || is_signed(type);
}

GGUFValue GGUFValue::make_uint(GGUFValueType type, uint64_t v) {
  uint64_t max = 0;
  switch (type) {
    case GGUFValueType::UINT8:
      max = UINT8_MAX;
      break;
    case GGUFValueType::UINT16:
      max = UINT16_MAX;
      break;
    case GGUFValueType::UINT32:
      max = UINT32_MAX;
      break;
    case GGUFValueType::UINT64:
      max = UINT64_MAX;
      break;
    default:
      throw GGUFError(fmt::format("make_uint: {} is not unsigned", value_type_name(type)));
  }
  if (v > max)
    throw GGUFError(fmt::format("value {} does not fit in {}", v, value_type_name(type)));
  GGUFValue r;
  r.type = type;
  r.data = v;
  return r;
}

GGUFValue GGUFValue::make_int(GGUFValueType type, int64_t v) {
  int64_t lo = 0, hi = 0;
  switch (type) {
    case GGUFValueType::INT8:
      lo = INT8_MIN, hi = INT8_MAX;
      break;
    case GGUFValueType::INT16:
      lo = INT16_MIN, hi = INT16_MAX;
      break;
    case GGUFValueType::INT32:
      lo = INT32_MIN, hi = INT32_MAX;
      break;
    case GGUFValueType::INT64:
      lo = INT64_MIN, hi = INT64_MAX;
      break;
    default:
      throw GGUFError(fmt::format("make_int: {} is not signed", value_type_name(type)));
  }
  if (v < lo || v > hi) {
    throw GGUFError(fmt::format("value {} does not fit in {}", v, value_type_name(type)));
  }
  GGUFValue r;
  r.type = type;
  r.data = v;
  return r;
}

GGUFValue GGUFValue::make_float(GGUFValueType type, double v) {
  if (!is_float(type)) {
    throw GGUFError(fmt::format("make_float: {} is not a float type", value_type_name(type)));
  }
  GGUFValue r;
  r.type = type;
  r.data = type == GGUFValueType::FLOAT32 ? double{static_cast<float>(v)} : v;
  return r;
}

GGUFValue GGUFValue::make_bool(bool v) {
  GGUFValue r;
  r.type = GGUFValueType::BOOL;
  r.data = v;
  return r;
}

GGUFValue GGUFValue::make_string(std::string v) {
  GGUFValue r;
  r.type = GGUFValueType::STRING;
  r.data = std::move(v);
  return r;
}

GGUFValue GGUFValue::make_array(GGUFArray v) {
  GGUFValue r;
  r.type = GGUFValueType::ARRAY;
  r.data = std::make_shared<const GGUFArray>(std::move(v));
  return r;
}

std::optional<uint64_t> GGUFValue::as_u64() const {
  if (const auto* u = std::get_if<uint64_t>(&data); u && is_unsigned(type)) return *u;
  if (const auto* i = std::get_if<int64_t>(&data); i && is_signed(type) && *i >= 0) {
    return static_cast<uint64_t>(*i);
  }
  return std::nullopt;
}

std::optional<int64_t> GGUFValue::as_i64() const {
  if (const auto* u = std::get_if<uint64_t>(&data);
      u && is_unsigned(type) && *u <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&data); i && is_signed(type)) return *i;
  return std::nullopt;
}

std::optional<double> GGUFValue::as_f64() const {
  if (const auto* d = std::get_if<double>(&data); d && is_float(type)) return *d;
  return std::nullopt;
}

const std::string* GGUFValue::as_string() const {
  return type == GGUFValueType::STRING ? std::get_if<std::string>(&data) : nullptr;
}

const GGUFArray* GGUFValue::as_array() const {
  if (type != GGUFValueType::ARRAY) return nullptr;
  const auto* p = std::get_if<std::shared_ptr<const GGUFArray>>(&data);
  return p ? p->get() : nullptr;
}

std::string GGUFValue::type_description() const {
  const GGUFArray* a = as_array();
  if (!a) return value_type_name(type);
  if (a->elem_type == GGUFValueType::ARRAY && !a->arrays.empty()) {
    return fmt::format("array[{}]", a->arrays.front().type_description());
  }
  return fmt::format("array[{}]", value_type_name(a->elem_type));
}

size_t GGUFArray::size() const {
  return uints.size() + ints.size() + f32s.size() + f64s.size() + bools.size() + strings.size() +
         arrays.size();
}

// ---------------------------------------------------------------------------------------------
// GGUFFile

GGUFFile GGUFFile::open(const std::string& path) {
  GGUFFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw GGUFError(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw GGUFError(fmt::format("cannot stat: {}", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw GGUFError("not a regular file");
  }
  f.size_ = static_cast<uint64_t>(st.st_size);
  if (f.size_ < kHeaderSize) {
    // Too short for a header (mmap of an empty file would fail anyway): read it to report bad
    // magic where there is one.
    uint8_t buf[kHeaderSize] = {};
    const ssize_t got = ::pread(fd, buf, f.size_, 0);
    ::close(fd);
    if (got < 0 || static_cast<uint64_t>(got) != f.size_) throw GGUFError("truncated header");
    f.owned_.assign(buf, buf + f.size_);
    f.data_ = f.owned_.data();
  } else {
    void* map = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (map == MAP_FAILED) throw GGUFError(fmt::format("cannot mmap: {}", std::strerror(err)));
    f.map_ = map;
    f.data_ = static_cast<const uint8_t*>(map);
  }
  f.parse();
  return f;
}

GGUFFile GGUFFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  GGUFFile f;
  f.path_ = std::move(name);
  f.owned_ = std::move(bytes);
  f.data_ = f.owned_.data();
  f.size_ = f.owned_.size();
  f.parse();
  return f;
}

GGUFFile::GGUFFile(GGUFFile&& o) noexcept
    : path_(std::move(o.path_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      map_(std::exchange(o.map_, nullptr)),
      owned_(std::move(o.owned_)),
      version_(o.version_),
      alignment_(o.alignment_),
      data_offset_(o.data_offset_),
      metadata_(std::move(o.metadata_)),
      key_index_(std::move(o.key_index_)),
      tensors_(std::move(o.tensors_)),
      tensor_index_(std::move(o.tensor_index_)) {}

GGUFFile& GGUFFile::operator=(GGUFFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, size_);
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_ = std::exchange(o.map_, nullptr);
    owned_ = std::move(o.owned_);
    version_ = o.version_;
    alignment_ = o.alignment_;
    data_offset_ = o.data_offset_;
    metadata_ = std::move(o.metadata_);
    key_index_ = std::move(o.key_index_);
    tensors_ = std::move(o.tensors_);
    tensor_index_ = std::move(o.tensor_index_);
  }
  return *this;
}

GGUFFile::~GGUFFile() {
  if (map_) ::munmap(map_, size_);
}

void GGUFFile::parse() {
  Cursor c(data_, size_);
  c.set_context("header");
  if (size_ < 4) throw GGUFError("truncated header");
  const uint32_t magic = c.read<uint32_t>();
  if (magic != kMagic) {
    throw GGUFError(fmt::format("bad magic 0x{:08x} (not a GGUF file)", magic));
  }
  if (size_ < 8) throw GGUFError("truncated header");
  version_ = c.read<uint32_t>();
  if (version_ == 1) {
    throw GGUFError("GGUF version 1 is not supported (only versions 2 and 3)");
  }
  if (version_ != 2 && version_ != 3) {
    if (__builtin_bswap32(version_) == 2 || __builtin_bswap32(version_) == 3) {
      throw GGUFError(fmt::format("unsupported GGUF version {} (big-endian file)", version_));
    }
    throw GGUFError(fmt::format("unsupported GGUF version {}", version_));
  }
  if (size_ < kHeaderSize) throw GGUFError("truncated header");
  const uint64_t n_tensors = c.read<uint64_t>();
  const uint64_t n_kv = c.read<uint64_t>();

  // Plausibility before anything is allocated from these counts.
  const uint64_t rest = c.remaining();
  if (n_tensors > rest / kMinTensorInfoSize) {
    throw GGUFError(fmt::format("too many tensors ({}) for a file of {} bytes", n_tensors, size_));
  }
  if (n_kv > rest / kMinKvSize) {
    throw GGUFError(fmt::format("too many metadata keys ({}) for a file of {} bytes", n_kv, size_));
  }
  if (n_tensors * kMinTensorInfoSize + n_kv * kMinKvSize > rest) {
    throw GGUFError(
        fmt::format("too many tensors ({}) and metadata keys ({}) for a file of {} bytes",
                    n_tensors, n_kv, size_));
  }

  // Metadata.
  metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    c.set_context(fmt::format("metadata key {}", i));
    std::string key = c.read_string();
    c.set_context(fmt::format("metadata key {} ('{}')", i, printable(key)));
    const GGUFValueType type = read_value_type(c, "value type");
    GGUFValue value = read_value(c, type, 0);
    if (!key_index_.emplace(key, metadata_.size()).second) {
      throw GGUFError(fmt::format("duplicate metadata key '{}'", printable(key)));
    }
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  alignment_ = kDefaultAlignment;
  if (const GGUFValue* a = find(kAlignmentKey)) {
    const auto v = a->as_u64();
    if (!is_integer_type(a->type)) {
      throw GGUFError(fmt::format("key '{}' has type {}, expected uint32", kAlignmentKey,
                                  a->type_description()));
    }
    if (!v || *v == 0 || *v > UINT32_MAX || !std::has_single_bit(*v)) {
      throw GGUFError(fmt::format("{} {} is not a power of two", kAlignmentKey,
                                  v ? fmt::to_string(*v) : fmt::to_string(*a->as_i64())));
    }
    alignment_ = *v;
  }

  // Tensor infos.
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GGUFTensorInfo t;
    c.set_context(fmt::format("tensor info {}", i));
    t.name = c.read_string();
    const std::string label = tensor_label(t.name);
    c.set_context(label);
    const uint32_t n_dims = c.read<uint32_t>();
    if (n_dims < 1 || n_dims > 4) {
      throw GGUFError(fmt::format("{} has {} dimensions (expected 1 to 4)", label, n_dims));
    }
    t.ne.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) t.ne[d] = c.read<uint64_t>();
    const uint32_t raw_type = c.read<uint32_t>();
    t.offset = c.read<uint64_t>();

    for (uint32_t d = 0; d < n_dims; ++d) {
      if (t.ne[d] == 0) throw GGUFError(fmt::format("{} dimension {} is 0", label, d));
    }
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (__builtin_mul_overflow(t.n_elements, t.ne[d], &t.n_elements) ||
          t.n_elements > static_cast<uint64_t>(INT64_MAX)) {
        throw GGUFError(fmt::format("{} element count overflows", label));
      }
    }
    const TypeInfo* ti = type_info(raw_type);
    if (!ti) throw GGUFError(fmt::format("{} has unknown type id {}", label, raw_type));
    t.type = ti->type;
    if (t.ne[0] % ti->block_size != 0) {
      throw GGUFError(fmt::format("{} row length {} is not a multiple of the {} block size {}",
                                  label, t.ne[0], ti->name, ti->block_size));
    }
    const auto row = row_bytes(t.type, t.ne[0]);
    if (!row || __builtin_mul_overflow(*row, t.n_elements / t.ne[0], &t.n_bytes)) {
      throw GGUFError(fmt::format("{} byte size overflows", label));
    }
    if (t.offset % alignment_ != 0) {
      throw GGUFError(fmt::format("{} offset {} not aligned to {}", label, t.offset, alignment_));
    }
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
      throw GGUFError(fmt::format("duplicate tensor name '{}'", printable(t.name)));
    }
    tensors_.push_back(std::move(t));
  }

  // Data section: starts at the next multiple of the alignment (may be absent without tensors).
  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (const GGUFTensorInfo& t : tensors_) {
    uint64_t begin = 0, end = 0;
    if (__builtin_add_overflow(data_offset_, t.offset, &begin) ||
        __builtin_add_overflow(begin, t.n_bytes, &end)) {
      throw GGUFError(fmt::format("{} data offset {} lies outside the file (size {})",
                                  tensor_label(t.name), t.offset, size_));
    }
    if (end > size_) {
      throw GGUFError(fmt::format("{} data [{}, {}) lies outside the file (size {})",
                                  tensor_label(t.name), begin, end, size_));
    }
  }
  std::vector<size_t> order(tensors_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const GGUFTensorInfo& a = tensors_[order[i - 1]];
    const GGUFTensorInfo& b = tensors_[order[i]];
    if (a.offset + a.n_bytes > b.offset) {
      throw GGUFError(
          fmt::format("tensors '{}' and '{}' overlap", printable(a.name), printable(b.name)));
    }
  }
}

const GGUFValue* GGUFFile::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GGUFValue& GGUFFile::require(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) throw GGUFError(fmt::format("missing required key '{}'", key));
  return *v;
}

namespace {

[[noreturn]] void wrong_type(std::string_view key, const GGUFValue& v, std::string_view want) {
  throw GGUFError(
      fmt::format("key '{}' has type {}, expected {}", key, v.type_description(), want));
}

template <typename T>
T integer_value(std::string_view key, const GGUFValue& v, const char* want) {
  if (!is_integer_type(v.type)) wrong_type(key, v, "integer");
  if constexpr (std::is_signed_v<T>) {
    const auto i = v.as_i64();
    if (i && *i >= std::numeric_limits<T>::min() && *i <= std::numeric_limits<T>::max()) {
      return static_cast<T>(*i);
    }
  } else {
    const auto u = v.as_u64();
    if (u && *u <= std::numeric_limits<T>::max()) return static_cast<T>(*u);
  }
  const auto u = v.as_u64();
  throw GGUFError(fmt::format("key '{}' value {} does not fit in {}", key,
                              u ? fmt::to_string(*u) : fmt::to_string(*v.as_i64()), want));
}

float float_value(std::string_view key, const GGUFValue& v) {
  const auto d = v.as_f64();
  if (!d) wrong_type(key, v, "float32");
  return static_cast<float>(*d);
}

const std::string& string_value(std::string_view key, const GGUFValue& v) {
  const std::string* s = v.as_string();
  if (!s) wrong_type(key, v, "string");
  return *s;
}

bool bool_value(std::string_view key, const GGUFValue& v) {
  if (v.type != GGUFValueType::BOOL) wrong_type(key, v, "bool");
  return std::get<bool>(v.data);
}

}  // namespace

uint64_t GGUFFile::get_u64(std::string_view key) const {
  return integer_value<uint64_t>(key, require(key), "uint64");
}
uint32_t GGUFFile::get_u32(std::string_view key) const {
  return integer_value<uint32_t>(key, require(key), "uint32");
}
int64_t GGUFFile::get_i64(std::string_view key) const {
  return integer_value<int64_t>(key, require(key), "int64");
}
float GGUFFile::get_f32(std::string_view key) const {
  return float_value(key, require(key));
}
std::string GGUFFile::get_string(std::string_view key) const {
  return string_value(key, require(key));
}
bool GGUFFile::get_bool(std::string_view key) const {
  return bool_value(key, require(key));
}

std::optional<uint64_t> GGUFFile::opt_u64(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  return integer_value<uint64_t>(key, *v, "uint64");
}
std::optional<uint32_t> GGUFFile::opt_u32(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  return integer_value<uint32_t>(key, *v, "uint32");
}
std::optional<int64_t> GGUFFile::opt_i64(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  return integer_value<int64_t>(key, *v, "int64");
}
std::optional<float> GGUFFile::opt_f32(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  return float_value(key, *v);
}
std::optional<std::string> GGUFFile::opt_string(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  return string_value(key, *v);
}
std::optional<bool> GGUFFile::opt_bool(std::string_view key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  return bool_value(key, *v);
}

const std::vector<std::string>& GGUFFile::get_string_array(std::string_view key) const {
  const GGUFValue& v = require(key);
  const GGUFArray* a = v.as_array();
  if (!a || a->elem_type != GGUFValueType::STRING) wrong_type(key, v, "array[string]");
  return a->strings;
}

std::vector<float> GGUFFile::get_f32_array(std::string_view key) const {
  const GGUFValue& v = require(key);
  const GGUFArray* a = v.as_array();
  if (a && a->elem_type == GGUFValueType::FLOAT32) return a->f32s;
  if (a && a->elem_type == GGUFValueType::FLOAT64) {
    return std::vector<float>(a->f64s.begin(), a->f64s.end());
  }
  wrong_type(key, v, "array[float32]");
}

std::vector<int32_t> GGUFFile::get_i32_array(std::string_view key) const {
  const GGUFValue& v = require(key);
  const GGUFArray* a = v.as_array();
  if (!a || !is_integer_type(a->elem_type)) wrong_type(key, v, "array[int32]");
  std::vector<int32_t> out;
  out.reserve(a->size());
  for (size_t i = 0; i < a->uints.size(); ++i) {
    if (a->uints[i] > static_cast<uint64_t>(INT32_MAX)) {
      throw GGUFError(
          fmt::format("key '{}' element {} value {} does not fit in int32", key, i, a->uints[i]));
    }
    out.push_back(static_cast<int32_t>(a->uints[i]));
  }
  for (size_t i = 0; i < a->ints.size(); ++i) {
    if (a->ints[i] < INT32_MIN || a->ints[i] > INT32_MAX) {
      throw GGUFError(
          fmt::format("key '{}' element {} value {} does not fit in int32", key, i, a->ints[i]));
    }
    out.push_back(static_cast<int32_t>(a->ints[i]));
  }
  return out;
}

const GGUFTensorInfo* GGUFFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GGUFFile::tensor_data(const GGUFTensorInfo& info) const {
  // Only infos of this file are valid here; their bounds were checked by parse().
  const GGUFTensorInfo* own = find_tensor(info.name);
  if (!own || own->offset != info.offset || own->n_bytes != info.n_bytes) {
    throw GGUFError(fmt::format("tensor '{}' does not belong to this file", info.name));
  }
  return {data_ + data_offset_ + own->offset, static_cast<size_t>(own->n_bytes)};
}

void GGUFFile::release(std::span<const uint8_t> bytes) const {
  if (!map_ || bytes.empty()) return;
  const auto base = reinterpret_cast<uintptr_t>(map_);
  const auto lo = reinterpret_cast<uintptr_t>(bytes.data());
  const uintptr_t hi = lo + bytes.size();
  if (lo < base || hi > base + size_) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (lo + page - 1) / page * page, last = hi / page * page;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

// ---------------------------------------------------------------------------------------------
// GGUFWriter

void GGUFWriter::set_value(std::string key, GGUFValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GGUFWriter::set_u8(std::string key, uint8_t v) {
  set_value(std::move(key), GGUFValue::make_uint(GGUFValueType::UINT8, v));
}
void GGUFWriter::set_i8(std::string key, int8_t v) {
  set_value(std::move(key), GGUFValue::make_int(GGUFValueType::INT8, v));
}
void GGUFWriter::set_u16(std::string key, uint16_t v) {
  set_value(std::move(key), GGUFValue::make_uint(GGUFValueType::UINT16, v));
}
void GGUFWriter::set_i16(std::string key, int16_t v) {
  set_value(std::move(key), GGUFValue::make_int(GGUFValueType::INT16, v));
}
void GGUFWriter::set_u32(std::string key, uint32_t v) {
  set_value(std::move(key), GGUFValue::make_uint(GGUFValueType::UINT32, v));
}
void GGUFWriter::set_i32(std::string key, int32_t v) {
  set_value(std::move(key), GGUFValue::make_int(GGUFValueType::INT32, v));
}
void GGUFWriter::set_u64(std::string key, uint64_t v) {
  set_value(std::move(key), GGUFValue::make_uint(GGUFValueType::UINT64, v));
}
void GGUFWriter::set_i64(std::string key, int64_t v) {
  set_value(std::move(key), GGUFValue::make_int(GGUFValueType::INT64, v));
}
void GGUFWriter::set_f32(std::string key, float v) {
  set_value(std::move(key), GGUFValue::make_float(GGUFValueType::FLOAT32, v));
}
void GGUFWriter::set_f64(std::string key, double v) {
  set_value(std::move(key), GGUFValue::make_float(GGUFValueType::FLOAT64, v));
}
void GGUFWriter::set_bool(std::string key, bool v) {
  set_value(std::move(key), GGUFValue::make_bool(v));
}
void GGUFWriter::set_string(std::string key, std::string v) {
  set_value(std::move(key), GGUFValue::make_string(std::move(v)));
}
void GGUFWriter::set_string_array(std::string key, std::vector<std::string> v) {
  GGUFArray a;
  a.elem_type = GGUFValueType::STRING;
  a.strings = std::move(v);
  set_value(std::move(key), GGUFValue::make_array(std::move(a)));
}
void GGUFWriter::set_f32_array(std::string key, std::vector<float> v) {
  GGUFArray a;
  a.elem_type = GGUFValueType::FLOAT32;
  a.f32s = std::move(v);
  set_value(std::move(key), GGUFValue::make_array(std::move(a)));
}
void GGUFWriter::set_i32_array(std::string key, std::vector<int32_t> v) {
  GGUFArray a;
  a.elem_type = GGUFValueType::INT32;
  a.ints.assign(v.begin(), v.end());
  set_value(std::move(key), GGUFValue::make_array(std::move(a)));
}

bool GGUFWriter::remove(std::string_view key) {
  auto it = std::find_if(metadata_.begin(), metadata_.end(),
                         [&](const auto& kv) { return kv.first == key; });
  if (it == metadata_.end()) return false;
  metadata_.erase(it);
  return true;
}

GGUFWriter::Tensor GGUFWriter::make_tensor(std::string name, GGMLType type,
                                           std::vector<uint64_t> ne) const {
  const std::string label = tensor_label(name);
  for (const Tensor& t : tensors_) {
    if (t.info.name == name) throw GGUFError(fmt::format("duplicate tensor name '{}'", name));
  }
  const TypeInfo* ti = type_info(type);
  if (!ti) {
    throw GGUFError(fmt::format("{} has unknown type id {}", label, static_cast<uint32_t>(type)));
  }
  if (ne.empty() || ne.size() > 4) {
    throw GGUFError(fmt::format("{} has {} dimensions (expected 1 to 4)", label, ne.size()));
  }
  uint64_t n = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] == 0) throw GGUFError(fmt::format("{} dimension {} is 0", label, d));
    if (__builtin_mul_overflow(n, ne[d], &n) || n > static_cast<uint64_t>(INT64_MAX)) {
      throw GGUFError(fmt::format("{} element count overflows", label));
    }
  }
  if (ne[0] % ti->block_size != 0) {
    throw GGUFError(fmt::format("{} row length {} is not a multiple of the {} block size {}", label,
                                ne[0], ti->name, ti->block_size));
  }
  const auto row = row_bytes(type, ne[0]);
  uint64_t bytes = 0;
  if (!row || __builtin_mul_overflow(*row, n / ne[0], &bytes)) {
    throw GGUFError(fmt::format("{} byte size overflows", label));
  }
  Tensor t;
  t.info.name = std::move(name);
  t.info.ne = std::move(ne);
  t.info.type = type;
  t.info.n_elements = n;
  t.info.n_bytes = bytes;
  return t;
}

void GGUFWriter::add_tensor(std::string name, GGMLType type, std::vector<uint64_t> ne,
                            std::span<const uint8_t> data) {
  Tensor t = make_tensor(std::move(name), type, std::move(ne));
  if (data.size() != t.info.n_bytes) {
    throw GGUFError(fmt::format("{} data is {} bytes, expected {}", tensor_label(t.info.name),
                                data.size(), t.info.n_bytes));
  }
  t.data.assign(data.begin(), data.end());
  tensors_.push_back(std::move(t));
}

void GGUFWriter::add_tensor_info(std::string name, GGMLType type, std::vector<uint64_t> ne) {
  Tensor t = make_tensor(std::move(name), type, std::move(ne));
  t.deferred = true;
  tensors_.push_back(std::move(t));
}

uint64_t GGUFWriter::alignment() const {
  for (const auto& [k, v] : metadata_) {
    if (k != kAlignmentKey) continue;
    const auto a = v.as_u64();
    if (!a || *a == 0 || *a > UINT32_MAX || !std::has_single_bit(*a)) {
      throw GGUFError(fmt::format("{} must be a power of two", kAlignmentKey));
    }
    return *a;
  }
  return GGUFFile::kDefaultAlignment;
}

namespace {

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void put_value(const GGUFValue& v) {
    switch (v.type) {
      case GGUFValueType::UINT8:
        put<uint8_t>(static_cast<uint8_t>(*v.as_u64()));
        break;
      case GGUFValueType::UINT16:
        put<uint16_t>(static_cast<uint16_t>(*v.as_u64()));
        break;
      case GGUFValueType::UINT32:
        put<uint32_t>(static_cast<uint32_t>(*v.as_u64()));
        break;
      case GGUFValueType::UINT64:
        put<uint64_t>(*v.as_u64());
        break;
      case GGUFValueType::INT8:
        put<int8_t>(static_cast<int8_t>(*v.as_i64()));
        break;
      case GGUFValueType::INT16:
        put<int16_t>(static_cast<int16_t>(*v.as_i64()));
        break;
      case GGUFValueType::INT32:
        put<int32_t>(static_cast<int32_t>(*v.as_i64()));
        break;
      case GGUFValueType::INT64:
        put<int64_t>(*v.as_i64());
        break;
      case GGUFValueType::FLOAT32:
        put<float>(static_cast<float>(*v.as_f64()));
        break;
      case GGUFValueType::FLOAT64:
        put<double>(*v.as_f64());
        break;
      case GGUFValueType::BOOL:
        put<uint8_t>(std::get<bool>(v.data) ? 1 : 0);
        break;
      case GGUFValueType::STRING:
        put_string(*v.as_string());
        break;
      case GGUFValueType::ARRAY:
        put_array(*v.as_array());
        break;
    }
  }
  void put_array(const GGUFArray& a) {
    put<uint32_t>(static_cast<uint32_t>(a.elem_type));
    put<uint64_t>(a.size());
    switch (a.elem_type) {
      case GGUFValueType::UINT8:
        for (uint64_t x : a.uints) put<uint8_t>(static_cast<uint8_t>(x));
        break;
      case GGUFValueType::UINT16:
        for (uint64_t x : a.uints) put<uint16_t>(static_cast<uint16_t>(x));
        break;
      case GGUFValueType::UINT32:
        for (uint64_t x : a.uints) put<uint32_t>(static_cast<uint32_t>(x));
        break;
      case GGUFValueType::UINT64:
        for (uint64_t x : a.uints) put<uint64_t>(x);
        break;
      case GGUFValueType::INT8:
        for (int64_t x : a.ints) put<int8_t>(static_cast<int8_t>(x));
        break;
      case GGUFValueType::INT16:
        for (int64_t x : a.ints) put<int16_t>(static_cast<int16_t>(x));
        break;
      case GGUFValueType::INT32:
        for (int64_t x : a.ints) put<int32_t>(static_cast<int32_t>(x));
        break;
      case GGUFValueType::INT64:
        for (int64_t x : a.ints) put<int64_t>(x);
        break;
      case GGUFValueType::FLOAT32:
        for (float x : a.f32s) put<float>(x);
        break;
      case GGUFValueType::FLOAT64:
        for (double x : a.f64s) put<double>(x);
        break;
      case GGUFValueType::BOOL:
        for (uint8_t x : a.bools) put<uint8_t>(x ? 1 : 0);
        break;
      case GGUFValueType::STRING:
        for (const auto& s : a.strings) put_string(s);
        break;
      case GGUFValueType::ARRAY:
        for (const GGUFValue& x : a.arrays) {
          if (!x.as_array()) throw GGUFError("array of arrays holds a non-array element");
          put_array(*x.as_array());
        }
        break;
    }
  }
  void pad_to(uint64_t alignment) {
    out_.resize((out_.size() + alignment - 1) / alignment * alignment, 0);
  }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace

std::vector<uint8_t> GGUFWriter::header_bytes(uint32_t version) const {
  if (version != 2 && version != 3) {
    throw GGUFError(fmt::format("cannot write GGUF version {}", version));
  }
  const uint64_t align = alignment();
  std::vector<uint8_t> out;
  ByteSink s(out);
  s.put<uint32_t>(kMagic);
  s.put<uint32_t>(version);
  s.put<uint64_t>(tensors_.size());
  s.put<uint64_t>(metadata_.size());
  for (const auto& [k, v] : metadata_) {
    s.put_string(k);
    s.put<uint32_t>(static_cast<uint32_t>(v.type));
    s.put_value(v);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    s.put_string(t.info.name);
    s.put<uint32_t>(static_cast<uint32_t>(t.info.ne.size()));
    for (uint64_t d : t.info.ne) s.put<uint64_t>(d);
    s.put<uint32_t>(static_cast<uint32_t>(t.info.type));
    s.put<uint64_t>(offset);
    offset = (offset + t.info.n_bytes + align - 1) / align * align;
  }
  s.pad_to(align);
  return out;
}

std::vector<uint8_t> GGUFWriter::serialize(uint32_t version) const {
  for (const Tensor& t : tensors_) {
    if (t.deferred) {
      throw GGUFError(fmt::format("{} has no data (add_tensor_info needs write_streaming)",
                                  tensor_label(t.info.name)));
    }
  }
  std::vector<uint8_t> out = header_bytes(version);
  const uint64_t align = alignment();
  ByteSink s(out);
  for (const Tensor& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    s.pad_to(align);
  }
  return out;
}

void GGUFWriter::write(const std::string& path, uint32_t version) const {
  write_streaming(
      path,
      [](const GGUFTensorInfo& info, std::vector<uint8_t>&) {
        throw GGUFError(fmt::format("{} has no data (add_tensor_info needs write_streaming)",
                                    tensor_label(info.name)));
      },
      version);
}

void GGUFWriter::write_streaming(
    const std::string& path,
    const std::function<void(const GGUFTensorInfo& info, std::vector<uint8_t>& out)>& produce,
    uint32_t version) const {
  const std::vector<uint8_t> header = header_bytes(version);
  const uint64_t align = alignment();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw GGUFError(fmt::format("cannot create: {}", std::strerror(errno)));
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  static const std::vector<uint8_t> zeros(4096, 0);
  std::vector<uint8_t> produced;
  for (const Tensor& t : tensors_) {
    if (!ok) break;
    const std::vector<uint8_t>* data = &t.data;
    if (t.deferred) {
      produced.clear();
      try {
        produce(t.info, produced);
      } catch (...) {
        std::fclose(f);
        throw;
      }
      if (produced.size() != t.info.n_bytes) {
        std::fclose(f);
        throw GGUFError(fmt::format("{} data is {} bytes, expected {}", tensor_label(t.info.name),
                                    produced.size(), t.info.n_bytes));
      }
      data = &produced;
    }
    ok = std::fwrite(data->data(), 1, data->size(), f) == data->size();
    uint64_t pad = (align - data->size() % align) % align;
    while (ok && pad > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(pad, zeros.size()));
      ok = std::fwrite(zeros.data(), 1, chunk, f) == chunk;
      pad -= chunk;
    }
  }
  const int err = errno;
  if (std::fclose(f) != 0 && ok) {
    throw GGUFError(fmt::format("cannot write: {}", std::strerror(errno)));
  }
  if (!ok) throw GGUFError(fmt::format("cannot write: {}", std::strerror(err)));
}

}  // namespace vkllm
