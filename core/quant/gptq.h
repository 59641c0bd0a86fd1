// GPTQ / LDLQ with given quantization parameters (core/ALGORITHMS.md section 5): the (s, z) of
// every (row, group) are computed once from the original weights by the chosen rule (Min-Max, NeUQI
// or NeUQI-int, importance = damped diag H: "static groups"), then the columns are quantized in
// act-order with error feedback through the upper Cholesky factor of H^-1 (lazy column blocks).
// Tensors may live on the CPU or a CUDA device; results come back on the weights' device.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

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

// tr(dW H dW^T) in float64 (dW [out, in], H [in, in], same device).
double proxy_loss(const at::Tensor& dW, const at::Tensor& H);

}  // namespace zp::quant
