// (f) L(s, z) as a colour map (log10 of the loss) over scale (x = s / s0) and zero-point, with the
// path z*(s) of the optimal zero-point and markers for the chosen and the Min-Max parameters.
#pragma once

#include <vector>

class QCPColorScale;

#include "app/gui/plots/plotview.h"
#include "app/gui/plots/zcurveplot.h"
#include "core/analysis/loss_curves.h"

class LossGridPlot : public PlotView {
    Q_OBJECT
public:
    explicit LossGridPlot(QWidget* parent = nullptr);
    // markers: x in absolute scale units, y = z.
    void setData(const zp::analysis::LossGrid& grid, double s0,
                 const std::vector<PlotMarker>& markers);

private:
    QCPColorScale* scale_ = nullptr;
};
