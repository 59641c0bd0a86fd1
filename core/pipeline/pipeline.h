// The sequential quantization pipeline (core/MATHS.md section 5): one decoder block at a time,
// sub-groups [q, k, v] -> [o] -> [gate, up] -> [down], each with its proxy Hessian collected from
// the calibration activations as they are with the earlier sub-groups (and blocks) already
// quantized; then the block is rerun with its quantized weights to give the next block's inputs.
// Every linear of the decoder blocks is quantized; embeddings and the classifier stay full
// precision. Memory: one block + one Hessian + the calibration activations (twice).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/formats/gguf.h"
#include "core/model/model.h"
#include "core/quant/quantizer.h"
#include "core/quant/result.h"
#include "core/quant/ruquant.h"

namespace zp::pipeline {

// The one table of pipeline methods: the GUI lists it, the command line accepts its names, the
// session file stores them. The (s, z) part comes from quant::methods().
struct PipelineMethod {
    const char* name;  // "rtn-minmax", "rtn-neuqi", "gptq-minmax", "gptq-neuqi", "gptq-neuqi-int"
    quant::Algorithm algorithm;
    quant::Method params;
    const char* label;  // "GPTQ + NeUQI"
};
const std::vector<PipelineMethod>& pipeline_methods();
// InvalidArgument naming the accepted names.
const PipelineMethod& parse_pipeline_method(const std::string& name);

// A per-layer override, keyed "<block>.<name>" ("3.down_proj"), "*.<name>" (every block) or
// "<block>.*" (every layer of a block); the most specific key wins (block.name > block.* > *.name).
struct LayerOverride {
    int bits = 0;            // 0: the run's
    int64_t group_size = 0;  // 0: the run's; -1 channel-wise
    std::string method;      // "": the run's; else a pipeline method name
    bool skip = false;       // leave the layer in full precision
};

struct PipelineOptions {
    std::string method = "gptq-neuqi";
    int bits = 2;
    int64_t group_size = -1;  // -1: channel-wise
    // A llama.cpp preset ("Q4_K_M"; "" = none): every layer quantized for the GGUF type
    // llama-quantize gives it (gguf_presets.h), on that type's grid (kquant_search.h: RTN;
    // gptq_kquant: GPTQ); bits and group_size do not apply. A layer the preset leaves F16 (row
    // length not a multiple of 32) is kept in full precision.
    std::string preset;
    // With a preset: a size budget in bits per weight of the linear layers (0 = the preset's own
    // types). Each linear's type is then chosen among the GGUF types its row length allows from
    // measured losses (a first pass: every candidate type searched with the layer's damped diag H
    // from the calibration data), to reach the budget with the least total loss (greedy on the
    // lower convex hull of loss against bytes, layer by layer); the rest as the preset has it.
    // Needs calibration data. The choice is in the run record (bpw_types) and the layers.
    double bpw = 0.0;
    // Per-layer types ("<block>.<layer>" -> GGUF type) that replace the preset's (what --bpw
    // chose); empty: the preset's.
    std::map<std::string, gguf::TensorType> layer_types;
    quant::QuantConfig search;  // clip, grid, coarse, full_grid (method/bits/group set per layer)
    double damp = 0.01;
    int64_t gptq_block = 128;
    bool act_order = true;
    bool double_precision = false;    // GPTQ updates in float64
    at::Tensor calibration;           // [N, L] int64 token ids; undefined: data-free (RTN only)
    std::string calibration_source;   // recorded in the result
    uint64_t seed = 0;                // recorded in the result
    std::string device = "cpu";       // "cpu" or "cuda[:N]"; computation in float32
    bool activations_on_cpu = false;  // keep the calibration activations in host memory
    int64_t batch = 8;                // calibration sequences per forward pass
    std::map<std::string, LayerOverride> overrides;
    bool write_back = true;  // W_hat into the model (Model::set_block) as each block finishes
    // Memory the pipeline may use to run each block's forward once, group by group (block inputs,
    // residuals and the widest group input of all calibration sequences); above it, one partial
    // forward per group. The results are the same either way.
    int64_t stage_cache_bytes = int64_t(2) << 30;
    // Activations (RUQuant's quantizers): 16 = none; fewer bits make every forward of the
    // written-back model quantize its activations per token (clip aclip).
    int abits = 16;
    double aclip = 1.0;
    // RUQuant's transforms and its baselines (quant/ruquant.h), built per linear-input group from
    // the calibration activations as the earlier groups (weights and activations) are quantized,
    // and fused into the weights before they are quantized. Needs calibration data unless none.
    quant::TransformOptions transform;
    // (done layers, total layers, "block 2/5 down_proj: gptq (ETA 12 s)"); false cancels: the
    // pipeline throws zp::Cancelled and restores the model's blocks it had replaced.
    ProgressFn progress;
    // Called (on the pipeline's thread) with each layer's result as soon as it is final, so that a
    // GUI can show it while the run goes on. Optional.
    std::function<void(const quant::LayerResult&)> on_layer;
};

// What one layer will get (after overrides); exposed for the GUI's plan view and the tests.
struct LayerPlan {
    int64_t block = 0;
    std::string name;
    bool skip = false;
    const PipelineMethod* method = nullptr;
    quant::QuantConfig config;
    // With a preset: the GGUF type the layer is quantized for (F32: none, config applies).
    gguf::TensorType encoding = gguf::TensorType::F32;
    std::string encoding_rule;  // why that type (gguf::TensorChoice::rule)
};
// Resolves and checks every layer of the model before any work: InvalidArgument naming the layer
// (e.g. "block 0 down_proj: group size 32 does not divide the row length 172 ..."), an unknown
// method or override key, GPTQ / NeUQI-with-data without calibration is allowed only for RTN.
std::vector<LayerPlan> plan_layers(const model::ModelConfig& config,
                                   const PipelineOptions& options);

// What --bpw measured and chose, layer by layer.
struct BudgetChoice {
    int64_t block = 0;
    std::string name;
    int64_t weights = 0;
    std::vector<std::pair<gguf::TensorType, double>> losses;  // candidate type -> loss sum h dW^2
    gguf::TensorType type = gguf::TensorType::F32;            // the chosen one
    uint64_t bytes = 0;
};
struct BudgetPlan {
    std::vector<BudgetChoice> layers;
    uint64_t bytes = 0, budget = 0;  // of the linears: chosen, allowed
    double loss = 0.0;
};
// Measures every candidate type of every linear (a pass of the pipeline with the preset's layers
// at Min-Max, write_back off, for each layer's damped diag H from the calibration data) and
// chooses the types for o.bpw. InvalidArgument without calibration, preset, or for a budget below
// the cheapest types or above the dearest. Progress through o.progress.
BudgetPlan plan_budget(model::Model& model, const PipelineOptions& o);

// Runs the pipeline. With write_back the model ends up holding W_hat for every quantized layer
// (perplexity and generation then run on the quantized model). Throws InvalidArgument (plan),
// Cancelled, NumericError.
quant::QuantizedModel quantize_model(model::Model& model, const PipelineOptions& options);

// FNV-1a 64 of the model's HF config JSON, as 16 hex digits.
std::string config_hash(const model::ModelConfig& config);

}  // namespace zp::pipeline
