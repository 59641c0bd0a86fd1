// Everything the teaching playground shows about one (row, group), computed in one call: the
// Min-Max, NeUQI and NeUQI-int parameters, the parameters of the mode being shown (or a manual
// scale and zero), the quantization grid, L(z) at the shown scale and L(s, z*(s)) over the scales.
// Losses are weighted MSEs with h normalised to sum 1, as in the search (core/MATHS.md 2-4).
#pragma once

#include <vector>

#include "core/analysis/loss_curves.h"
#include "core/common/progress.h"

namespace zp::analysis {

enum class StudyMode { MinMax, NeUQI, NeUQIInt, Manual };

struct StudyRequest {
    std::vector<double> w, h;  // the group's weights and importance (h >= 0, any sum)
    int bits = 2;
    StudyMode mode = StudyMode::NeUQI;
    double manual_scale = 0.0, manual_zero = 0.0;  // used in Manual mode (scale > 0)
    bool manual_scale_relative = false;  // manual_scale is a fraction of s0 (Min-Max scale)
    int grid = 2048, coarse = 64;        // the NeUQI search (T and coarse candidates)
    int landscape_points = 256;          // L(s) samples: s0 * i / points, i = 1..points
    int curve_points = 400;              // L(z) samples over [-1, N]
};

struct StudyPoint {
    double scale = 0.0, zero = 0.0, loss = 0.0;
};

struct GroupStudy {
    int bits = 2;
    double s0 = 0.0;                // Min-Max scale (max - min) / (N - 1)
    StudyPoint minmax, neuqi;       // always computed
    StudyPoint neuqi_int;           // computed only in NeUQIInt mode (otherwise loss < 0)
    StudyPoint shown;               // the parameters of the requested mode
    double optimum_loss = 0.0;      // the best loss found (NeUQI's, or NeUQI-int's if lower)
    double ratio_to_optimum = 1.0;  // shown.loss / optimum_loss (1 when both are 0)
    double ratio_minmax = 1.0;      // minmax.loss / optimum_loss
    int clipped_low = 0, clipped_high = 0;  // weights clipped to level 0 / N-1 under `shown`
    std::vector<double> levels;             // the N dequantized levels s (j - z) of `shown`
    std::vector<double> quantized;          // Q(w_i) under `shown`
    ZCurve zcurve;  // L(z) at shown.scale over [-1, N] (break points capped at 2000)
    std::vector<double> landscape_scale, landscape_loss, landscape_zero;  // L(s, z*(s)) samples
};

// Throws InvalidArgument/NumericError for bad input; Cancelled when `progress` returns false (it is
// asked between stages, so a restartable preview can abandon stale work quickly).
GroupStudy study_group(const StudyRequest& request, const ProgressFn& progress = nullptr);

}  // namespace zp::analysis
