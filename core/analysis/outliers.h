// Super-weights made visible (issue 13): the weights of a layer that lie far out in the layer's
// distribution and that the chosen quantization parameters clip, i.e. reconstruct further from
// their value than half a quantization step (a weight inside its group's grid is never more than
// half a step off).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/quant/result.h"

namespace zp::analysis {

struct ClippedWeight {
    int64_t row = 0, col = 0;
    double value = 0.0;          // W
    double reconstructed = 0.0;  // W_hat
    double sigmas = 0.0;         // |W - mean(W)| / std(W) over the whole layer
    double step = 0.0;           // the group's scale
};

// The weights of `layer` with |W - mean(W)| >= k std(W) (the layer's statistics) whose
// reconstruction error exceeds half their group's step, by decreasing |W|. W: the layer's original
// weights [out, in] (CPU, any float dtype). InvalidArgument when W does not match the layer or the
// layer was skipped.
std::vector<ClippedWeight> clipped_outliers(const at::Tensor& W, const quant::LayerResult& layer,
                                            double k = 10.0);

}  // namespace zp::analysis
