// GGUF version 3 (llama.cpp's model container, core/formats/LAYOUTS.md): a writer (atomic:
// temporary file + rename; tensor data in memory or produced one tensor at a time while the file
// streams out) and a reader that validates the file the way llama.cpp's gguf.cpp does before
// trusting a byte of it. Every refusal is a FormatError naming the file and the field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/common/progress.h"

namespace zp::gguf {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxNameBytes = 63;  // llama.cpp: GGML_MAX_NAME 64 including the NUL
constexpr uint32_t kMaxDims = 4;

// Metadata value types (the uint32 after each key).
enum class ValueType : uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};
const char* value_type_name(ValueType t);

// ggml tensor types (the ids GGUF stores). Only the ones the workbench names; the reader knows the
// block geometry of every id llama.cpp defines (tensor_type_traits).
enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    BF16 = 30,
};

struct TypeTraits {
    const char* name = nullptr;  // nullptr: not a ggml type id
    uint64_t block_elements = 0;
    uint64_t block_bytes = 0;
};
// Geometry of a type id (any uint32); name == nullptr when llama.cpp defines no such type.
TypeTraits tensor_type_traits(uint32_t type_id);
// Bytes of a row of n elements; throws InvalidArgument if n is not a multiple of the block.
uint64_t row_bytes(TensorType type, uint64_t n);

// One metadata value. Scalars live in u / i / f / b / s by kind; arrays hold their elements in
// the matching vector (bool and unsigned arrays in au, signed in ai, floats in af, strings in as),
// array_type says which.
struct Value {
    ValueType type = ValueType::u32;
    ValueType array_type = ValueType::u8;
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0.0;
    bool b = false;
    std::string s;
    std::vector<uint64_t> au;
    std::vector<int64_t> ai;
    std::vector<double> af;
    std::vector<std::string> as;

    static Value of_u32(uint32_t v);
    static Value of_i32(int32_t v);
    static Value of_u64(uint64_t v);
    static Value of_f32(float v);
    static Value of_bool(bool v);
    static Value of_string(std::string v);
    static Value of_strings(std::vector<std::string> v);
    static Value of_f32s(const std::vector<float>& v);
    static Value of_i32s(const std::vector<int32_t>& v);
    size_t array_size() const;  // elements of an array value (0 for scalars)
};

struct TensorInfo {
    std::string name;
    std::vector<uint64_t> ne;  // ne[0] = row length (innermost)
    TensorType type = TensorType::F32;
    uint64_t offset = 0;  // relative to the start of the data section
    uint64_t bytes = 0;   // unpadded data size (ne x type geometry)
    uint64_t elements() const;
};

// Produces the bytes of one tensor when the file is written (streaming: the writer holds one
// tensor's data at a time). Must return exactly the size the tensor's shape and type imply; may
// throw, which aborts the write and leaves no file.
using TensorProducer = std::function<std::vector<uint8_t>()>;

// A GGUF file to write: metadata in insertion order, tensors in insertion order. A tensor's data
// is either held in memory from add_tensor on, or produced lazily, one tensor at a time, while
// write() streams the file out: the header (metadata and tensor infos, whose sizes are known from
// the shapes) goes first, then each tensor's data as it is produced. Peak memory of a streamed
// write is the header plus the largest single tensor.
class Writer {
public:
    // Adds or replaces a key. "general.alignment" (u32, power of two) sets the data alignment.
    void set(const std::string& key, Value v);
    // Adds a tensor. data must be exactly the size ne x type implies (InvalidArgument otherwise);
    // names must be unique and <= 63 bytes; 1..4 dims.
    void add_tensor(const std::string& name, std::vector<uint64_t> ne, TensorType type,
                    std::vector<uint8_t> data);
    // Adds a tensor whose data `produce` returns when write() reaches it (same checks on name,
    // dims and shape; a producer returning the wrong size makes write() throw InvalidArgument).
    void add_tensor(const std::string& name, std::vector<uint64_t> ne, TensorType type,
                    TensorProducer produce);
    size_t tensor_count() const { return tensors_.size(); }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    // Writes the file atomically (temporary + rename); returns its size in bytes. progress is
    // called before each tensor's data (done = tensors written, total = tensor count, stage = the
    // tensor's name) and once at the end; false cancels (Cancelled, no file). Producer exceptions
    // propagate, leaving no file. Throws IoError.
    uint64_t write(const std::string& path, const ProgressFn& progress = {}) const;

private:
    TensorInfo make_info(const std::string& name, std::vector<uint64_t> ne, TensorType type) const;
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<TensorInfo> tensors_;
    std::vector<std::vector<uint8_t>> data_;  // in-memory tensors (empty for produced ones)
    std::vector<TensorProducer> producers_;   // lazily produced tensors (empty for in-memory)
};

// A GGUF file read and validated (header, metadata, tensor infos; tensor data on demand).
struct File {
    std::string path;
    uint32_t version = 0;
    std::vector<std::pair<std::string, Value>> kv;
    std::vector<TensorInfo> tensors;
    uint64_t alignment = kDefaultAlignment;
    uint64_t data_offset = 0;  // absolute file offset of the data section
    uint64_t file_size = 0;

    const Value* find(const std::string& key) const;          // nullptr if absent
    const TensorInfo* tensor(const std::string& name) const;  // nullptr if absent
    // The tensor's raw bytes (blocks as stored). Throws IoError / InvalidArgument (unknown name).
    std::vector<uint8_t> read_data(const TensorInfo& t) const;
};

// Reads and validates: magic, version (3), counts against the file size, string lengths, value
// and array types (no arrays of arrays), duplicate keys and names, general.alignment (u32, power
// of two), n_dims <= 4, dimensions and their product, type ids, rows a whole number of blocks,
// offsets equal to the running aligned sum, data inside the file. Throws IoError / FormatError
// ("<path>: <field>: <problem>").
File read(const std::string& path);

}  // namespace zp::gguf
