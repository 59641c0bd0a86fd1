// (b) L(z) at a fixed scale: the piecewise quadratic loss over the zero-point, its break points,
// the exact optimum z*, the integer zero-points and optional extra markers (Min-Max's z, a manual
// z).
#pragma once

#include <QColor>

#include <vector>

#include "app/gui/plots/plotview.h"
#include "core/analysis/loss_curves.h"

struct PlotMarker {
    QString name;
    QColor color;
    double x = 0.0, y = 0.0;
};

class ZCurvePlot : public PlotView {
    Q_OBJECT
public:
    explicit ZCurvePlot(QWidget* parent = nullptr);
    void setData(const zp::analysis::ZCurve& curve, const std::vector<PlotMarker>& markers);
};
