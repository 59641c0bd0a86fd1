// How far a distillation moved each layer's quantization parameters from their initial values
// (issue 14): per layer, mean |s - s0| / mean |s0| for the scales and mean |z - z0| / mean |z0| for
// the zero-points, in float64. The workbench draws it as a heatmap; the command line prints the
// layers that moved most.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/quant/result.h"

namespace zp::analysis {

// mean |x - x0| / mean |x0| in float64; NaN when either is undefined, the shapes differ, x0 is
// empty or mean |x0| is 0.
double relative_movement(const at::Tensor& x, const at::Tensor& x0);

struct LayerMovement {
    int64_t block = 0;
    std::string name;
    double scale = 0.0;  // relative movement of the scales (NaN: see relative_movement)
    double zero = 0.0;   // relative movement of the zero-points
};

// One entry per layer of `after` that is not skipped and has a non-skipped counterpart (same
// block and name) in `before`, in `after`'s order.
std::vector<LayerMovement> distill_movement(const quant::QuantizedModel& before,
                                            const quant::QuantizedModel& after);

}  // namespace zp::analysis
