// The playground's view of one group: the weights sorted by value, their quantized values Q(w)
// as a staircase, and the quantization grid (the N levels) as horizontal lines.
#pragma once

#include <QColor>

#include <vector>

#include "app/gui/plots/plotview.h"

class GroupValuesPlot : public PlotView {
    Q_OBJECT
public:
    explicit GroupValuesPlot(QWidget* parent = nullptr);
    void setData(const std::vector<double>& w, const std::vector<double>& quantized,
                 const std::vector<double>& levels, const QColor& color, const QString& name);
};
