// GPTQ / LDLQ with given quantization parameters (core/MATHS.md section 5): the (s, z) of
// every (row, group) are computed once from the original weights by the chosen rule (Min-Max, NeUQI
// or NeUQI-int, importance = damped diag H: "static groups"), then the columns are quantized in
// act-order with error feedback through the upper Cholesky factor of H^-1 (lazy column blocks).
// Tensors may live on the CPU or a CUDA device; results come back on the weights' device.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/formats/gguf.h"
#include "core/quant/kquant_search.h"
#include "core/quant/quantizer.h"

namespace zp::quant {

struct GptqConfig {
    QuantConfig quant;         // method of (s, z), bits, group size, search options
    double damp = 0.01;        // H += damp * mean(diag H) * I before anything else
    int64_t block_size = 128;  // lazy-batch column block
    bool act_order = true;     // columns by descending diag H
    int max_retries = 6;       // failed factorisation: add damp * 10^k * mean(diag H) and retry
    bool double_precision = false;  // weights/updates in float64 (the inverse is always float64)
};

struct GptqResult {
    at::Tensor scale, zero;  // [rows, groups] static parameters, dtype float32 (or W's float64)
    at::Tensor codes;        // uint8 [rows, cols], original column order
    at::Tensor dequantized;  // W_hat [rows, cols] float32 (float64 with double_precision)
    at::Tensor importance;   // [cols] float64: damped diag H (the h of the (s, z) search)
    at::Tensor perm;         // [cols] int64: the column order used
    LayerQuant rtn;          // RTN with the same (s, z) rule and importance (its diagnostics too)
    double damp_used = 0.0;  // total relative damping that made the factorisation succeed
    int retries = 0;
    double seconds = 0.0;
};

// W [out, in] (any floating dtype), H [in, in] the undamped proxy Hessian (1/T) sum x x^T
// (float64 preferred, symmetric PSD). `what` names the layer in errors. Throws InvalidArgument
// (shapes, config), NumericError (NaN/Inf, factorisation still failing after the retries).
GptqResult gptq_quantize(const at::Tensor& W, const at::Tensor& H, const GptqConfig& config,
                         const std::string& what = "weight");

// GPTQ on the grid of a GGUF block type (kquant_search.h): what a K-quant preset writes, with
// error feedback. The columns are taken in order (act_order does not apply: a block's sub-blocks
// share two fp16 super-scales, so a block's parameters must be fixed at once); when GPTQ reaches
// the first column of a block (256 columns for the K-quants, 32 for Q4_0..Q8_0), that block's
// parameters are searched by kquant_quantize on the weights as GPTQ has updated them so far, with
// importance damped diag H; the block's columns are then quantized on that grid one at a time,
// each column's error fed into the later columns through the upper Cholesky factor of H^-1.
// The codes come back packed with the chosen parameters: bytes, the values they dequantize to
// (bit for bit), loss = sum h (W - values)^2 with h = damped diag H, minmax_loss = kquant_minmax's
// of the original W with the same h. W on any device (the searches run on the CPU); config.quant is
// not read. Throws as gptq_quantize, and InvalidArgument when cols is not whole blocks.
KquantResult gptq_kquant(const at::Tensor& W, const at::Tensor& H, gguf::TensorType type,
                         const GptqConfig& config, const std::string& what = "weight");

// tr(dW H dW^T) in float64 (dW [out, in], H [in, in], same device).
double proxy_loss(const at::Tensor& dW, const at::Tensor& H);

}  // namespace zp::quant
