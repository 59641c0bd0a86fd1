// Reading a ZeroPoint packed checkpoint (the "packed" export; layout in
// core/export/safetensors_export.h) as a model: config.json with a quantization_config naming
// "zeropoint-packed", model.safetensors with each quantized linear as bit-packed codes, float32
// scales and real zero-points. Model::open serves such a directory in the HF layout, every
// quantized linear dequantized on read. The session-side reader (load_packed: the run record and
// per-layer figures) builds on this in core/export.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/formats/safetensors.h"
#include "core/model/weight_source.h"

namespace zp::model {

constexpr const char* kPackedFormat = "zeropoint-packed";
constexpr int kPackedVersion = 1;

// The directory a packed checkpoint path names (the directory itself, or a file inside it).
std::string packed_dir_of(const std::string& path);
// True when the directory of `path` holds a config.json whose quantization_config names
// "zeropoint-packed".
bool is_packed_checkpoint(const std::string& path);
// config.json of a packed directory, with format, version and the layer list checked.
// FormatError naming the file and the field.
nlohmann::json read_packed_config(const std::string& dir);

// A JSON field of the packed config; FormatError "<where>: field 'key' is missing / has a wrong
// type".
template <typename T>
T packed_field(const nlohmann::json& o, const char* key, const std::string& where)
{
    if (!o.is_object() || !o.contains(key))
        throw FormatError(where + ": field '" + key + "' is missing");
    try {
        return o[key].get<T>();
    } catch (const nlohmann::json::exception&) {
        throw FormatError(where + ": field '" + key + "' has a wrong type: " + o[key].dump());
    }
}

// One entry of quantization_config.layers: where a linear is and how it is stored.
struct PackedLinear {
    int64_t block = 0;
    std::string name;  // "q_proj", ...
    int bits = 0;
    int64_t group_size = 0, in_features = 0, out_features = 0;
    bool skipped = false;
};
// FormatError naming cfg_path and the entry for a missing or impossible field.
PackedLinear parse_packed_linear(const nlohmann::json& entry, const std::string& cfg_path);

struct PackedTensors {
    at::Tensor codes;         // uint8 [out, in] (unpacked)
    at::Tensor scale, zero;   // float32 [out, ceil(in / group)]
    at::Tensor hessian_diag;  // float64 [in], or undefined
};
// Reads one layer's tensors, checking dtype and shape (FormatError naming file and tensor).
PackedTensors read_packed_tensors(const io::SafetensorsFile& file, const PackedLinear& layer);

// For Model::open: a weight source that serves a packed directory in the HF layout, quantized
// linears dequantized on read (format() == "zeropoint-packed").
std::unique_ptr<WeightSource> open_packed_source(const std::string& dir);

}  // namespace zp::model
