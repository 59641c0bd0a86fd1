// (d) The importance h (Hessian diagonal) over a layer's input columns, log scale, with the group
// boundaries and the chosen group shaded.
#pragma once

#include <cstdint>
#include <vector>

#include "app/gui/plots/plotview.h"

class ImportancePlot : public PlotView {
    Q_OBJECT
public:
    explicit ImportancePlot(QWidget* parent = nullptr);
    // groupSize = columns per group (h.size() for channel-wise); group = the one to shade.
    void setData(const std::vector<double>& h, int64_t groupSize, int64_t group);
};
