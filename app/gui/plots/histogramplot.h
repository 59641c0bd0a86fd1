// (a) Histogram of one group's weights with the quantization levels of two parameter sets drawn
// over it (Min-Max and the method's), so one sees where levels fall relative to the mass.
#pragma once

#include <vector>

#include <QColor>

#include "app/gui/plots/plotview.h"

struct LevelSet {
    QString name;
    QColor color;
    std::vector<double> levels;  // dequantized values s (j - z)
};

class HistogramPlot : public PlotView {
    Q_OBJECT
public:
    explicit HistogramPlot(QWidget* parent = nullptr);
    void setData(const std::vector<double>& values, const std::vector<LevelSet>& levels);
};
