// A quantized model as Hugging Face style safetensors directories, in three layouts.
//
// 1. Dequantized ("safetensors"): config.json + model.safetensors exactly as core/model's
//    export_hf writes them (HF names and shapes; F16 or BF16, norm gains F32). Every quantized
//    linear holds QuantizedModel::dequantize(layer) (W_hat) rounded to the dtype; every other
//    tensor (embedding, norms, biases, lm_head unless tied, skipped layers) comes from the model.
//    Model::open loads it like any HF checkpoint.
//
// 2. Packed ("zeropoint-packed", version 1): ZeroPoint's own exact layout. model.safetensors holds,
//    for every quantized linear with HF prefix P ("model.layers.3.self_attn.q_proj"):
//      P.qcodes        U8  [out, ceil(in * bits / 8)]  the codes of each row as one little-endian
//                                                      bit stream: code j of the row occupies bits
//                                                      j*bits .. j*bits+bits-1, bit k of byte b is
//                                                      stream bit 8b + k (numpy: unpackbits(...,
//                                                      bitorder="little")); the row's last byte is
//                                                      zero-padded
//      P.scales        F32 [out, ceil(in / group_size)] s
//      P.zeros         F32 [out, ceil(in / group_size)] z (real-valued)
//      P.hessian_diag  F64 [in]                        only when the layer has one
//    with W_hat[r, c] = scales[r, c / g] * (code[r, c] - zeros[r, c / g]) computed in float32 (the
//    last group is shorter when g does not divide in), and
//    P.bias where the model has one. Every other tensor keeps its HF name, stored F32 (exact: the
//    engine holds weights as float32). Skipped layers are stored as P.weight (F32).
//    config.json is the model's HF config plus
//      "quantization_config": {"quant_method": "zeropoint", "format": "zeropoint-packed",
//        "version": 1, "bits": <run>, "group_size": <run, -1 channel-wise>, "method": <run>,
//        "run": {RunConfig fields}, "perplexity": {...},
//        "layers": [{"tensor": P, "block", "name", "bits", "group_size" (resolved columns),
//                    "in_features", "out_features", "algorithm" ("rtn"|"gptq"), "param_method",
//                    "skipped", "diag_loss", "diag_loss_minmax", "proxy_loss",
//                    "proxy_loss_rtn_minmax", "relative_weight_error", "seconds"}, ...]}
//    (layers in the QuantizedModel's order, skipped ones included).
//    The safetensors __metadata__ carries {"format": "pt", "zeropoint": "packed-1"}.
//    load_packed() gives back the QuantizedModel with bit-identical codes, scales and zeros.
//
// 3. GPTQ ("gptq"): a checkpoint for transformers / GPTQModel / vLLM, checkpoint_format
//    "gptq_v2" (zeros stored as z, not z - 1), sym false, desc_act false. Per quantized linear P:
//      P.qweight int32 [in * bits / 32, out]   each column's in codes as one little-endian bit
//                                              stream of `bits` per value over consecutive
//                                              int32 words (2/4/8 bits: 32/bits values per word,
//                                              value k at bit k*bits; 3 bits: GPTQ's packing of
//                                              32 values into 3 words across word boundaries)
//      P.qzeros  int32 [G, out * bits / 32]       the integer zero-points, packed so along out
//      P.scales  F16   [G, out]                   G = ceil(in / g)
//      P.g_idx   int32 [in]                       c / g
//      P.bias    F16                              where the model has one
//    dequantizing to w[r, c] = float(scales[c / g, r]) * (q[c, r] - qzeros[c / g, r]) (float32).
//    A group size that does not divide in gives a shorter last group, as GPTQ's reference code,
//    GPTQModel and AutoGPTQ lay it out (ceil(in / g) rows, g_idx = c / g); the export warns that
//    vLLM's GPTQ layers refuse such a layer (they check in % g == 0).
//    Zero-points are integers there: each real z is rounded to the nearest integer in
//    [0, 2^bits - 1], the scale rounded to fp16, and the codes re-quantized from the workbench's
//    W_hat with that (s, z): code = clamp(round(W_hat / s + z), 0, 2^bits - 1). The loss this adds,
//    sum_i h_i (w - W_hat)^2 (h = hessian_diag, ones if absent), is reported per layer, comparable
//    to LayerResult::diag_loss. Channel-wise layers use group_size -1 (one group of in columns).
//    exporter::Options::gptq_refit_scale / encode_gptq(refit_scale) optionally re-fits the scale.
//    Fallback: a layer GPTQ cannot hold (bits 5-7; in * bits or out * bits not a multiple of 32)
//    is stored unquantized as P.weight F16 (W_hat), with a
//    warning naming it, and excluded from quantization through quantization_config "dynamic"
//    ("-:^P$", GPTQModel's per-module rule; when the same module name is excluded in every block,
//    also through "modules_in_block_to_quantize" that transformers/optimum read). Layers whose bits
//    or group size differ from the checkpoint's (the most common) get a "+:^P$" dynamic override.
//    Other tensors are F16 (or BF16), norm gains F32. config.json carries the quantization_config;
//    quantize_config.json repeats it (AutoGPTQ).
//
// All three write into `dir` directly (the caller, core/export/exporter.cpp, makes that a temporary
// directory renamed into place) and optionally copy a tokenizer file or directory into it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/formats/bitpack.h"
#include "core/model/model.h"
#include "core/model/packed_source.h"
#include "core/quant/result.h"

namespace zp::io {

// One row of an export's per-layer table.
struct ExportedLayer {
    std::string tensor;       // HF prefix, "model.layers.0.self_attn.q_proj"
    std::string type;         // "int4", "F16", "packed4", ...
    double rel_error = 0.0;   // ||w - W_hat||_F / ||W_hat||_F (w: what the file dequantizes to)
    double added_loss = 0.0;  // sum_rows sum_i h_i (w - W_hat)^2, h = hessian_diag (ones if absent)
    double diag_loss = 0.0;   // LayerResult::diag_loss, for the ratio
    int64_t codes_changed = 0;  // gptq: codes that differ from the workbench's
    std::string note;
};

struct SafetensorsExportResult {
    std::vector<std::string> files;  // paths written (inside dir)
    std::vector<ExportedLayer> layers;
    std::vector<std::string> warnings;  // one line each, naming the tensor
};

// Dtype of the non-quantized tensors: "f16" -> kHalf, "bf16" -> kBFloat16, "f32" -> kFloat;
// InvalidArgument otherwise.
at::ScalarType parse_export_dtype(const std::string& name);

// Layout 1. Throws InvalidArgument (qm does not match the model), IoError; Cancelled via progress.
SafetensorsExportResult export_dequantized(const model::Model& model,
                                           const quant::QuantizedModel& qm, const std::string& dir,
                                           at::ScalarType dtype, const std::string& tokenizer = {},
                                           const ProgressFn& progress = {});

// Layout 2.
SafetensorsExportResult export_packed(const model::Model& model, const quant::QuantizedModel& qm,
                                      const std::string& dir, const std::string& tokenizer = {},
                                      const ProgressFn& progress = {});

// Layout 3. dtype: the non-quantized tensors (kHalf or kBFloat16); scales are always F16.
// refit_scale: see encode_gptq.
SafetensorsExportResult export_gptq(const model::Model& model, const quant::QuantizedModel& qm,
                                    const std::string& dir, at::ScalarType dtype = at::kHalf,
                                    const std::string& tokenizer = {},
                                    const ProgressFn& progress = {}, bool refit_scale = false);

// How one layer is stored in the GPTQ layout (exposed for the tests and the GUI).
struct GptqEncoding {
    bool packed = false;  // false: the fallback (F16 weight); note says why
    int bits = 0;
    int64_t group_size = 0;                     // columns per group (in for channel-wise)
    at::Tensor qweight, qzeros, scales, g_idx;  // as written (int32, int32, F16, int32)
    at::Tensor zeros_int;                       // [out, groups] int32: the rounded zero-points
    at::Tensor codes;                           // [out, in] uint8: the re-quantized codes
    at::Tensor w;                     // [out, in] float32: what the checkpoint dequantizes to
    double nearest_added_loss = 0.0;  // the added loss of plain nearest-z rounding
    ExportedLayer line;
};
// The default is the plain conversion: z rounded to the nearest integer level, s rounded to
// fp16, codes re-quantized from W_hat. refit_scale (an option beyond that): for each (row, group)
// also try floor(z) and ceil(z) with the weighted least-squares scale for the codes they give
// (s = sum h w (c - z) / sum h (c - z)^2, rounded to fp16, two passes), keeping whichever grid
// has the lowest sum h (w - W_hat)^2; never worse than the plain conversion.
GptqEncoding encode_gptq(const quant::LayerResult& layer, bool refit_scale = false);

struct PackedCheckpoint {
    std::unique_ptr<model::Model> model;  // every quantized linear reads as W_hat (from the codes)
    quant::QuantizedModel qm;             // codes, scales, zeros bit-identical to the export's
};
// Loads a packed directory (or its config.json / model.safetensors). Throws IoError, FormatError
// naming the file and the tensor or field.
PackedCheckpoint load_packed(const std::string& dir);

}  // namespace zp::io
