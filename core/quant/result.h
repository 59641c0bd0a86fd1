// What a quantization run produces: per linear layer the parameters, codes and diagnostics, and
// for the run its configuration and measured perplexities. Plain values: the GUI copies them across
// threads, the session file (HDF5) stores them, the exporters (GGUF, safetensors) read them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/formats/gguf.h"
#include "core/model/model.h"
#include "core/quant/ruquant.h"

namespace zp::quant {

// The quantization algorithm applied to one layer's weights.
enum class Algorithm { RTN, GPTQ };
// "rtn" / "gptq": the one spelling every file and listing uses.
const char* algorithm_name(Algorithm a);
// Reads "rtn" / "gptq" (any case: sessions before this spelling wrote "RTN" / "GPTQ");
// InvalidArgument otherwise.
Algorithm parse_algorithm(const std::string& name);

struct LayerResult {
    int64_t block = 0;  // decoder block index
    std::string
        name;  // "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    Algorithm algorithm = Algorithm::RTN;
    std::string
        param_method;  // quant::MethodInfo::name of the (s, z) rule: "minmax", "neuqi", "neuqi-int"
    int bits = 0;
    int64_t group_size = 0;  // resolved: columns per group (== in_features for channel-wise)
    bool skipped = false;    // left in full precision by a per-layer override
    int64_t out_features = 0, in_features = 0;
    at::Tensor scale, zero;   // [out, ceil(in / group)] float32 CPU (real-valued zero-points);
                              // the last group is shorter when group_size does not divide in
    at::Tensor codes;         // [out, in] uint8 CPU; W_hat = scale * (code - zero) per group
    at::Tensor hessian_diag;  // [in] float64 CPU: damped diag(H) (ones when data-free)
    // Quantized for a GGUF block type (a K-quant preset: --preset): `encoded` holds the tensor's
    // bytes of type `encoding` (HF row order, rows of gguf::row_bytes(encoding, in)), and W_hat is
    // exactly what they dequantize to. codes / scale / zero then hold the affine view of the
    // same grid (group_size = the type's sub-block, scale = the sub-block's step d * sc, zero =
    // its minimum / step - qmin, code = q - qmin), equal to W_hat up to float32 rounding, for the
    // views and the exports that read (s, z). encoding F32 and `encoded` undefined otherwise.
    gguf::TensorType encoding = gguf::TensorType::F32;
    at::Tensor encoded;  // uint8 [out * row_bytes] CPU
    double diag_loss = 0.0,
           diag_loss_minmax = 0.0;  // core/MATHS.md section 2, un-normalised h
    double proxy_loss = -1.0, proxy_loss_rtn_minmax = -1.0;  // tr(dW H dW^T); -1 when no H
    double relative_weight_error = 0.0;                      // ||W_hat - W||_F / ||W||_F
    double seconds = 0.0;
};

// Fills the encoding of a layer from a K-quant result of its [out, in] weights (kquant_search.h):
// encoding, encoded, bits (of the code range), group_size (the sub-block), and the affine view
// (codes, scale, zero). The caller sets the rest.
struct KquantResult;
void attach_encoding(LayerResult& layer, const KquantResult& k);

struct RunConfig {
    std::string model_path;
    std::string model_config_hash;   // hash of config.json (or of the llama2.c header)
    std::string calibration_source;  // file, or "" when data-free
    int64_t calibration_samples = 0, calibration_seqlen = 0;
    uint64_t seed = 0;
    std::string method;  // e.g. "gptq-neuqi", "rtn-minmax"
    int bits = 0;
    int64_t group_size = -1;  // as asked (-1 = channel-wise)
    std::string software_version;
    std::map<std::string, std::string> extra;  // per-layer overrides and other settings, as text
};

struct QuantizedModel {
    RunConfig config;
    std::vector<LayerResult> layers;           // in pipeline order
    std::map<std::string, double> perplexity;  // e.g. "wikitext2/original", "wikitext2/quantized"
    // The activation side of a WxAy run: each linear-input group's transform (identity for
    // "none") and its calibration statistics; empty for weight-only runs. The quantized weights
    // of a transformed group are those of W Q^-T (ruquant.h).
    TransformSet transforms;
    // Float tensors of the model that a later step trained (distillation: RMSNorm gains, q/k/v
    // biases), by HF name ("model.layers.3.input_layernorm.weight", "model.norm.weight"); they
    // replace the model's own when the result is installed. Empty for a plain run.
    std::map<std::string, at::Tensor> float_parts;
    // The distillation loss per step (empty when not distilled).
    std::vector<double> distill_loss;

    // W_hat of one layer as float32 [out, in] (dequantized from codes, scale, zero; from the
    // encoded bytes, bit for bit, for an encoded layer).
    static at::Tensor dequantize(const LayerResult& layer);
    const LayerResult* find(int64_t block, const std::string& name) const;
};

// How far a re-encoding w of a layer's weights (e.g. an export's) is from ref, in float64:
// ||w - ref||_F / ||ref||_F (the plain norm when ref is 0), and
// sum_rows sum_i h_i (w - ref)^2 with h = layer.hessian_diag un-normalised (ones when absent),
// comparable to layer.diag_loss.
double relative_error(const at::Tensor& w, const at::Tensor& ref);

double weighted_loss(const at::Tensor& w, const at::Tensor& ref, const LayerResult& layer);

// The one way quantized weights go into a model: every quantized layer of qm (not skipped, with
// codes) through Model::set_quantized_linear, so the model keeps codes, scales and zeros (shared,
// one byte per weight) and dequantizes a block when it is read. The pipeline's write-back,
// evaluation and generation of a session all use it. InvalidArgument naming the layer when it
// does not match the model (block outside it, unknown name, shapes).
// block >= 0: only that block's layers (the pipeline's write-back, block by block).
// float_parts go in too (Model::set_block_part / set_final_norm; the final norm only when block
// < 0); InvalidArgument for a name that is not a block part or the final norm.
void install_quantized(model::Model& m, const QuantizedModel& qm, int64_t block = -1);
// Only the float_parts (what install_quantized does after the linears): exports call it so that
// the norms they copy from the model are the trained ones.
void install_float_parts(model::Model& m, const QuantizedModel& qm, int64_t block = -1);

}  // namespace zp::quant
