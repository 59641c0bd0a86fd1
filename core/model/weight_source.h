// Internal to core/model: where a Model's bytes come from. Sources hand out tensors by HF name
// (model.layers.N.self_attn.q_proj.weight, ...), already converted to the HF conventions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/config.h"

namespace zp::model {

class WeightSource {
public:
    virtual ~WeightSource() = default;
    virtual const ModelConfig& config() const = 0;
    virtual const std::string& path() const = 0;
    virtual const std::string& format() const = 0;  // "hf", "llama2c"
    virtual bool has(const std::string& name) const = 0;
    // Shape as stored (without reading data); FormatError naming the file if absent.
    virtual std::vector<int64_t> shape(const std::string& name) const = 0;
    // The tensor as float32 CPU in HF layout; FormatError naming the file if absent.
    virtual at::Tensor load(const std::string& name) const = 0;
    // The file that holds a tensor, for error messages.
    virtual std::string file_of(const std::string& name) const = 0;
};

// FormatError when a checkpoint holds tensors of decoder blocks at or beyond num_layers (a
// config.json whose num_hidden_layers is too small would silently drop them).
void check_block_count(const std::vector<std::string>& tensor_names, int64_t num_layers,
                       const std::string& config_path, const std::string& checkpoint);

// An HF directory (config.json + model.safetensors or model.safetensors.index.json).
std::unique_ptr<WeightSource> open_hf_source(const std::string& dir);
// A llama2.c legacy checkpoint.
std::unique_ptr<WeightSource> open_llama2c_source(const std::string& path);

}  // namespace zp::model
