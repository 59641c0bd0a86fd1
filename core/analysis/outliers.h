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

// One weight of a layer beyond k standard deviations, as the workbench's Outliers view lists it:
// its reconstruction under the layer's parameters and under RTN Min-Max (clip 1) at the same bits
// and groups, and the importance h of its column.
struct OutlierWeight {
    int64_t row = 0, col = 0;
    double value = 0.0;       // W
    double sigmas = 0.0;      // |W - mean(W)| / std(W) over the whole layer
    double importance = 1.0;  // h[col]: the layer's damped Hessian diagonal (1 when data-free)
    double reconstructed = 0.0, step = 0.0;                // the layer's W_hat and group scale
    double reconstructed_minmax = 0.0, step_minmax = 0.0;  // the same under Min-Max
    bool clipped = false;         // |W_hat - W| > step / 2 (as clipped_outliers)
    bool clipped_minmax = false;  // the same under Min-Max
};

struct OutlierTable {
    double mean = 0.0, sd = 0.0, k = 0.0;     // the layer's statistics and the threshold used
    int64_t weights = 0;                      // all weights of the layer
    int64_t clipped = 0, clipped_minmax = 0;  // how many of `outliers` each clips
    std::vector<OutlierWeight> outliers;      // every weight with |W - mean| >= k sd, by
                                              // decreasing |W|
};

// Every weight of `layer` at least k standard deviations out, with both reconstructions.
// W as for clipped_outliers (same errors). Min-Max is computed here from W (kernels/quantize.h,
// float32 as the pipeline's), so the table is there for any run, GPTQ included.
OutlierTable outlier_table(const at::Tensor& W, const quant::LayerResult& layer, double k = 10.0);

}  // namespace zp::analysis
