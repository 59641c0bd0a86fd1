// How far a distillation moved each layer's parameters from their initial values: per layer,
// mean |s - s0| / mean |s0| for the scales and mean |z - z0| / mean |z0| for the zero-points
// (NaN where a layer is skipped, absent from either result or its mean |.0| is 0), laid out as
// blocks x layer types for the heatmap (zp::analysis::distill_movement laid out on the grid).
#pragma once

#include <QStringList>

#include <vector>

#include "app/gui/workbenchmodel.h"

namespace zp::quant {
struct QuantizedModel;
}

struct DistillMovement {
    QStringList types;
    int blocks = 0;
    std::vector<double> scale, zero;       // [block * types.size() + type]
    double scaleMax = 0.0, zeroMax = 0.0;  // the largest finite value (0 when none)
    bool valid() const { return blocks > 0 && !types.isEmpty(); }
};

// The layer types and block count come from `model` (its layerTypes() / blockCount()).
DistillMovement distillMovement(const WorkbenchModel& model,
                                const zp::quant::QuantizedModel& before,
                                const zp::quant::QuantizedModel& after);
