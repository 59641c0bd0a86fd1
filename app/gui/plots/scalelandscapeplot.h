// (c) The scale landscape L(s, z*(s)): the best loss at each candidate scale (x = s / s0, the
// fraction of the Min-Max scale), the candidates the coarse and fine stages visited and markers
// (the chosen s, s0, a manual point).
#pragma once

#include <vector>

#include "app/gui/plots/plotview.h"
#include "app/gui/plots/zcurveplot.h"

struct ScaleCurve {
    double s0 = 1.0;                              // Min-Max scale: x = s / s0
    std::vector<double> scale, loss;              // the curve
    std::vector<double> coarseScale, coarseLoss;  // visited by the coarse stage
    std::vector<double> fineScale, fineLoss;      // visited by the fine stage
    std::vector<PlotMarker> markers;              // x in absolute scale units
};

class ScaleLandscapePlot : public PlotView {
    Q_OBJECT
public:
    explicit ScaleLandscapePlot(QWidget* parent = nullptr);
    void setData(const ScaleCurve& data);
};
