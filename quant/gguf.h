// GGUF v2/v3 files: a validating, memory-mapped reader and a writer.
//
// Every field of a file is checked before use (counts against the file size before anything is
// allocated, string/array lengths, type ids, tensor shapes, sizes, alignment and data bounds);
// any problem is a GGUFError whose message says what is wrong, without the file name.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "quant/types.h"

namespace vkllm {

class GGUFError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class GGUFValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// "uint8", ..., "array"; "unknown(<id>)" for ids outside the enum.
std::string value_type_name(GGUFValueType type);
bool is_integer_type(GGUFValueType type);

struct GGUFArray;

// One metadata value. `type` is the exact type in the file; the payload is held as:
//   UINT8/16/32/64 -> uint64_t, INT8/16/32/64 -> int64_t, FLOAT32/64 -> double, BOOL -> bool,
//   STRING -> std::string, ARRAY -> shared_ptr<const GGUFArray> (immutable, cheap to copy).
struct GGUFValue {
  GGUFValueType type = GGUFValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<const GGUFArray>>
      data = uint64_t{0};

  static GGUFValue make_uint(GGUFValueType type, uint64_t v);  // UINT8..UINT64, range-checked
  static GGUFValue make_int(GGUFValueType type, int64_t v);    // INT8..INT64, range-checked
  static GGUFValue make_float(GGUFValueType type, double v);   // FLOAT32 or FLOAT64
  static GGUFValue make_bool(bool v);
  static GGUFValue make_string(std::string v);
  static GGUFValue make_array(GGUFArray v);

  // Integer value converted to the target if the type is an integer type and the value fits.
  std::optional<uint64_t> as_u64() const;
  std::optional<int64_t> as_i64() const;
  // FLOAT32/FLOAT64 value.
  std::optional<double> as_f64() const;
  const std::string* as_string() const;
  const GGUFArray* as_array() const;
  // "uint32", "string", "array[float32]", "array[array[int8]]", ...
  std::string type_description() const;
};

// An array value. Exactly the vector that matches elem_type is filled.
struct GGUFArray {
  GGUFValueType elem_type = GGUFValueType::UINT8;
  std::vector<uint64_t> uints;       // UINT8, UINT16, UINT32, UINT64
  std::vector<int64_t> ints;         // INT8, INT16, INT32, INT64
  std::vector<float> f32s;           // FLOAT32
  std::vector<double> f64s;          // FLOAT64
  std::vector<uint8_t> bools;        // BOOL (0 or 1)
  std::vector<std::string> strings;  // STRING
  std::vector<GGUFValue> arrays;     // ARRAY (each element has type ARRAY)

  size_t size() const;
};

struct GGUFTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ne[0] is the contiguous (row) dimension, as in ggml; 1..4 dims
  GGMLType type = GGMLType::F32;
  uint64_t offset = 0;  // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
};

class GGUFFile {
 public:
  static constexpr uint64_t kDefaultAlignment = 32;
  static constexpr int kMaxArrayDepth = 8;

  // Maps the file read-only and validates it. Throws GGUFError.
  static GGUFFile open(const std::string& path);
  // Parses an in-memory image (owned by the result). Throws GGUFError.
  static GGUFFile from_bytes(std::vector<uint8_t> bytes, std::string name = "<memory>");

  GGUFFile(GGUFFile&& other) noexcept;
  GGUFFile& operator=(GGUFFile&& other) noexcept;
  GGUFFile(const GGUFFile&) = delete;
  GGUFFile& operator=(const GGUFFile&) = delete;
  ~GGUFFile();

  uint32_t version() const { return version_; }
  const std::string& path() const { return path_; }
  uint64_t alignment() const { return alignment_; }  // general.alignment or 32
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section

  const GGUFValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Required values: throw GGUFError("missing required key 'k'"),
  // ("key 'k' has type string, expected integer") or ("key 'k' value -1 does not fit in uint32").
  // Integer getters accept any integer type whose value fits; get_f32 accepts float32/float64.
  uint64_t get_u64(std::string_view key) const;
  uint32_t get_u32(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  float get_f32(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  bool get_bool(std::string_view key) const;

  // Optional values: nullopt when absent; a present value of the wrong type still throws.
  std::optional<uint64_t> opt_u64(std::string_view key) const;
  std::optional<uint32_t> opt_u32(std::string_view key) const;
  std::optional<int64_t> opt_i64(std::string_view key) const;
  std::optional<float> opt_f32(std::string_view key) const;
  std::optional<std::string> opt_string(std::string_view key) const;
  std::optional<bool> opt_bool(std::string_view key) const;

  // Arrays: string arrays by reference; float arrays accept float32/float64 elements; int32
  // arrays accept any integer element type whose values fit in int32.
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(std::string_view key) const;

  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }
  const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
  const GGUFTensorInfo* find_tensor(std::string_view name) const;
  // Bytes of a tensor of this file (points into the mapping).
  std::span<const uint8_t> tensor_data(const GGUFTensorInfo& info) const;
  // Tells the kernel the whole pages inside `bytes` (a span of this file's mapping) are not needed
  // now: they are dropped from memory and read from the file again if touched. No effect on files
  // not mapped (from_bytes, tiny files) or on spans outside the mapping.
  void release(std::span<const uint8_t> bytes) const;

 private:
  GGUFFile() = default;
  void parse();
  const GGUFValue& require(std::string_view key) const;

  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  void* map_ = nullptr;  // non-null when data_ is an mmap of size_ bytes
  std::vector<uint8_t> owned_;

  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<GGUFTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

class GGUFWriter {
 public:
  // Metadata setters keep insertion order; setting an existing key replaces its value in place.
  void set_value(std::string key, GGUFValue value);
  void set_u8(std::string key, uint8_t v);
  void set_i8(std::string key, int8_t v);
  void set_u16(std::string key, uint16_t v);
  void set_i16(std::string key, int16_t v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_i64(std::string key, int64_t v);
  void set_f32(std::string key, float v);
  void set_f64(std::string key, double v);
  void set_bool(std::string key, bool v);
  void set_string(std::string key, std::string v);
  void set_string_array(std::string key, std::vector<std::string> v);
  void set_f32_array(std::string key, std::vector<float> v);
  void set_i32_array(std::string key, std::vector<int32_t> v);
  bool remove(std::string_view key);

  // Copies `data`; throws GGUFError if the name is a duplicate, the shape is invalid for the
  // type, or data.size() is not the tensor's byte size.
  void add_tensor(std::string name, GGMLType type, std::vector<uint64_t> ne,
                  std::span<const uint8_t> data);

  // Declares a tensor whose bytes write_streaming() asks for when it reaches it; same checks as
  // add_tensor. write() and serialize() throw GGUFError while such a tensor is present.
  void add_tensor_info(std::string name, GGMLType type, std::vector<uint64_t> ne);

  // Tensors are laid out in insertion order, each at a multiple of general.alignment (default
  // 32; must be a power of two), padding is zeros. Throws GGUFError on I/O errors.
  void write(const std::string& path, uint32_t version = 3) const;
  std::vector<uint8_t> serialize(uint32_t version = 3) const;

  // As write(), but the bytes of each tensor declared with add_tensor_info are produced on demand,
  // in file order: `produce(info, out)` must fill `out` with exactly info.n_bytes bytes (else
  // GGUFError). Peak memory is the header plus one tensor. Exceptions from `produce` propagate
  // (the file is left incomplete).
  void write_streaming(
      const std::string& path,
      const std::function<void(const GGUFTensorInfo& info, std::vector<uint8_t>& out)>& produce,
      uint32_t version = 3) const;

  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }

 private:
  struct Tensor {
    GGUFTensorInfo info;
    std::vector<uint8_t> data;
    bool deferred = false;  // add_tensor_info: bytes come from write_streaming's producer
  };
  Tensor make_tensor(std::string name, GGMLType type, std::vector<uint64_t> ne) const;
  uint64_t alignment() const;
  std::vector<uint8_t> header_bytes(uint32_t version) const;  // up to the data section start

  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace vkllm
