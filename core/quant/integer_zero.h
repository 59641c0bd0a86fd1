// A quantized layer re-expressed on a grid with integer zero-points and fp16 scales (what GPTQ
// checkpoints store: qzeros are integers). The maths of the GPTQ export, kept in the quant layer
// so that the writer in core/export only packs what this returns.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "core/quant/result.h"

namespace zp::quant {

struct IntegerZeroGrid {
    at::Tensor scale;           // [out, ceil(in / g)] float32 holding fp16 values
    at::Tensor zeros;           // [out, groups] float32 holding integers in [0, 2^bits - 1]
    at::Tensor codes;           // [out, in] uint8, re-quantized from W_hat on this grid
    at::Tensor w;               // [out, in] float32: what the grid dequantizes to
    double nearest_loss = 0.0;  // sum h (w - W_hat)^2 of plain nearest-z rounding
};

// Default: z rounded to the nearest integer level, s rounded to fp16, codes re-quantized from
// W_hat. refit_scale: for each (row, group) also try floor(z) and ceil(z) with the weighted
// least-squares scale for the codes they give (s = sum h w (c - z) / sum h (c - z)^2, rounded to
// fp16, two passes), keeping whichever grid has the lowest sum h (w - W_hat)^2; never worse than
// the plain conversion. h = layer.hessian_diag (ones when absent). Groups as the layer's:
// ceil(in / g), the last one shorter when g does not divide in. NumericError naming `what` when a
// scale is not positive after rounding.
IntegerZeroGrid integer_zero_grid(const LayerResult& layer, bool refit_scale,
                                  const std::string& what);

}  // namespace zp::quant
