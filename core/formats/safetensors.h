// safetensors reader (memory-mapped, fully validated) and atomic writer.
// Format: 8-byte LE header length N, N bytes of JSON, then raw little-endian data.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace zp::io {

struct SafetensorInfo {
    std::string name;
    std::string dtype;           // as in the file: "F32", "F16", "BF16", "F64", "I64", ...
    at::ScalarType scalar_type;  // the matching ATen type
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte offsets relative to the start of the data area
};

class SafetensorsFile {
public:
    // Maps the file and validates the header: length against file size, JSON, known dtypes,
    // offsets inside the data area, bytes == numel * itemsize, no overlaps.
    // Throws IoError (cannot open) or FormatError naming the file and the field.
    explicit SafetensorsFile(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const;
    bool contains(const std::string& name) const;
    std::vector<std::string> names() const;  // sorted by name
    const SafetensorInfo& info(
        const std::string& name) const;  // FormatError if absent (names file + tensor)
    const std::map<std::string, std::string>& metadata() const;

    // A CPU tensor with the file's dtype and shape. The bytes are copied out of the mapping, so the
    // tensor outlives this object.
    at::Tensor tensor(const std::string& name) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A safetensors file written as a stream, for outputs too large to hold: every tensor's name,
// dtype and shape is planned first (the header holds all offsets), then open() writes the header
// and put() the values one by one in plan order, each converted to its planned dtype (memory: one
// tensor). Atomic: a temporary file renamed into place by commit(); destroyed without commit,
// nothing is left. Throws InvalidArgument (bad plan, wrong name/order/shape) / IoError.
class SafetensorsWriter {
public:
    explicit SafetensorsWriter(std::string path);
    ~SafetensorsWriter();
    SafetensorsWriter(const SafetensorsWriter&) = delete;
    SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

    void plan(const std::string& name, at::ScalarType type, std::vector<int64_t> shape);
    void open(const std::map<std::string, std::string>& metadata = {});
    void put(const std::string& name, const at::Tensor& t);
    void commit();

    // "F32", "BF16", ... for a dtype safetensors holds; InvalidArgument otherwise.
    static const char* dtype_name(at::ScalarType t);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes tensors (any device, contiguous or not; F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL) and
// string metadata atomically (temporary file + rename). Throws IoError / InvalidArgument.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace zp::io
