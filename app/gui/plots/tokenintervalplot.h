// One token's activations against the per-token quantizer's intervals: every channel's value as a
// dot (y: the channel), the interval edges as vertical lines, and below them, for every interval a
// value falls into, its midpoint (the uniform quantizer's reconstruction) and its Lloyd-Max
// centroid (the mean of those values) joined by a line: the gap RUQuant's transforms shrink.
#pragma once

#include <QColor>

#include <cstdint>
#include <vector>

#include "app/gui/plots/plotview.h"

struct IntervalPicture {
    std::vector<double> values;                // the token's value per channel
    std::vector<double> edges;                 // [levels + 1]
    std::vector<double> midpoints, centroids;  // [levels]; centroid NaN where empty
    std::vector<int64_t> counts;               // [levels]
    double step = 0.0;
    QString caption;  // drawn in the plot (e.g. the mean gap)
    QColor color;     // the dots
};

class TokenIntervalPlot : public PlotView {
    Q_OBJECT
public:
    TokenIntervalPlot(const QString& title, QWidget* parent = nullptr);

    void setData(const IntervalPicture& picture);
    QString hoverText(const QPoint& pixel) const override;
    const IntervalPicture& picture() const { return pic_; }

private:
    int intervalOf(double value) const;
    IntervalPicture pic_;
};
