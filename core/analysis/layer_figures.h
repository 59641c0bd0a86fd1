// Per-(row, group) figures of one pipeline layer for the workbench's views: the loss of the
// layer's W_hat and of round-to-nearest Min-Max on the same groups, with the importance the layer
// was quantized with (its damped Hessian diagonal; ones when data-free).
#pragma once

#include <ATen/core/Tensor.h>

#include "core/quant/result.h"

namespace zp::analysis {

struct LayerFigures {
    at::Tensor group_loss;         // [out, ceil(in / group)] float64: sum_i h_i (W_hat - W)^2, h
                                   // summing to 1 in each group, the last group shorter when the
                                   // group size does not divide in (kernels/zero_point.h)
    at::Tensor group_loss_minmax;  // the same for RTN Min-Max at the layer's bits and group size
    at::Tensor importance;         // [in] float64, the h used
};

// W: the layer's original weights [out, in] (any float dtype, CPU). InvalidArgument when W does
// not match the layer's shape or the layer was skipped.
LayerFigures layer_figures(const at::Tensor& W, const quant::LayerResult& layer);

}  // namespace zp::analysis
