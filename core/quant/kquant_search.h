// Quantization under each GGUF block type's own constraints: for Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, the parameters the format can hold (fp16 super-scales, integer
// sub-block scales and minimums, integer codes) that minimise the importance-weighted loss
//
//     sum_ij h_ij (W_ij - X_ij)^2,
//
// X being what the FILE dequantizes to: llama.cpp's float32 arithmetic on the stored parameters
// (gguf::row_values), not a continuous approximation rounded afterwards.
//
// The search, per block (a 256-element super-block, or a 32-element block of the legacy types):
//   1. per sub-block, a NeUQI-style search of the continuous problem (Zhao et al., "NeUQI:
//      Near-Optimal Uniform Quantization Parameter Initialization", 2025): candidate scales on a
//      grid between a fraction and 1x of the Min-Max scale, for each the offset aligned and then
//      refitted with the codes by weighted least squares (clipping allowed), the lowest loss kept
//      (for symmetric types both signs of the scale, the code range being asymmetric);
//   2. the super-block's fp16 d (and dmin) from the sub-blocks' continuous parameters: a scan of
//      fp16 values around max(s) / max(sc), ranked by the loss increase that rounding every
//      sub-block scale (and minimum) to a multiple of d (dmin) costs in the quadratic model of each
//      sub-block's loss (exact for fixed codes, an upper bound once the codes are re-rounded);
//   3. for the best few (d, dmin), every sub-block's integer scale (and minimum) re-searched in a
//      neighbourhood with the codes re-optimised (q = clamp(round((w + dmin m) / (d sc)))), each
//      candidate scored by its true loss;
//   4. a few rounds of least-squares refits of (d, dmin) for the chosen integers and codes, their
//      fp16 values and neighbours searched again as in 3;
//   5. plain Min-Max-then-round (kquant_minmax) evaluated too, the lower of the two kept (so the
//      search's loss never exceeds Min-Max's), then polished by coordinate descent until no move
//      lowers the loss: each sub-block's (sc, m) by -1..1, d and dmin along the fp16 values (a
//      line search), codes re-rounded each time. The result is locally optimal under those moves.
// Every loss above is computed on float32 values formed as the dequantizer forms them.
// Deterministic (blocks are independent; at::parallel_for over blocks). About 0.15-1.3 s for a 576
// x 1536 tensor on 2 cores.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/formats/gguf.h"

namespace zp::quant {

// One block's stored parameters, in the generic form x = (d * sc[j]) * q - (dmin * m[j]) of
// sub-block j (one-level types: sc = m = 1, dmin the negated block minimum, 0 when symmetric).
struct KquantBlockParams {
    uint16_t d = 0, dmin = 0;  // fp16 bits
    int16_t sc[16] = {}, m[16] = {};
};

struct KquantResult {
    gguf::TensorType type = gguf::TensorType::F32;
    int64_t rows = 0, cols = 0;
    // rows * gguf::row_bytes(type, cols) bytes, row-major: the GGUF tensor data of ne [cols, rows].
    std::vector<uint8_t> bytes;
    // [rows, cols] float32 (W's shape when W is 1-D): what `bytes` dequantize to, bit for bit.
    at::Tensor values;
    double loss = 0.0;         // sum h (W - values)^2, float64 (kquant_loss)
    double minmax_loss = 0.0;  // the same for plain Min-Max-then-round (kquant_minmax)
    int64_t blocks = 0;        // blocks of the tensor
    int64_t minmax_kept = 0;   // blocks where Min-Max was not beaten (its parameters are written)
    // The grid: every block's parameters (row-major: block b covers row b / (cols / block), columns
    // (b % (cols / block)) * block ..), sub-blocks of `sub` elements, codes in qmin..qmax.
    std::vector<KquantBlockParams> params;
    int64_t block = 0, sub = 0;
    int qmin = 0, qmax = 0;
};

// The grid of r as per-sub-block float32 step and minimum, [rows, cols / sub] each, formed as the
// dequantizer forms them: element x = step * q - minimum with q in r.qmin..r.qmax (GPTQ quantizes
// column by column on this grid).
void kquant_grid(const KquantResult& r, at::Tensor* step, at::Tensor* minimum);

// r's parameters with other codes: q [rows, cols] integer (any integer dtype; clamped to
// r.qmin..r.qmax) -> the bytes, values and loss against W with importance h (as kquant_quantize).
// minmax_loss and minmax_kept are r's. InvalidArgument on shapes.
KquantResult kquant_encode(const KquantResult& r, const at::Tensor& q, const at::Tensor& W,
                           const at::Tensor& h);

// The types kquant_quantize writes: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
bool kquant_supported(gguf::TensorType type);
// Elements per block: 256 for the K-quants, 32 for the others. InvalidArgument if unsupported.
int64_t kquant_block_elements(gguf::TensorType type);

// W: [rows, cols] (or one row [cols]) of finite weights, any floating dtype, CPU. h: the
// importance, [cols] (one value per column, shared by the rows: the Hessian diagonal) or [rows,
// cols] (one per weight), finite and >= 0; an undefined tensor means h = 1 (data-free). Throws
// InvalidArgument for an unsupported type, bad shapes, or cols not a whole number of blocks (naming
// the type and the width); NumericError for NaN/Inf weights or a NaN/Inf/negative importance.
KquantResult kquant_quantize(const at::Tensor& W, const at::Tensor& h, gguf::TensorType type);

// Plain Min-Max-then-round, the baseline: per (sub-)block the Min-Max scale (and minimum: the
// lowest weight, or 0 when all are positive for the K-quants, whose minimum is stored as a
// non-negative multiple of dmin), the super-scales d = max(scale) / max(sc) and dmin = max(min) /
// max(m) rounded to fp16, each sub-block scale and minimum rounded to its integer, the codes
// rounded. Symmetric types map the largest-magnitude weight to the most negative code (as
// llama.cpp's reference quantizers do). h only weighs the reported loss.
KquantResult kquant_minmax(const at::Tensor& W, const at::Tensor& h, gguf::TensorType type);

// sum_ij h_ij (W_ij - X_ij)^2 in float64, rows summed in order (deterministic). h as above.
double kquant_loss(const at::Tensor& W, const at::Tensor& X, const at::Tensor& h);

}  // namespace zp::quant
