// The outlier picture: per-channel max |x| of a linear-input group's activations after each
// stage of its transform (input, smoothed, R0, permuted, R1, Householder), on a log axis, one
// graph per stage or only a chosen stage (over the input, drawn faintly).
#pragma once

#include <QStringList>

#include <vector>

#include "app/gui/plots/plotview.h"

class ChannelMaxPlot : public PlotView {
    Q_OBJECT
public:
    explicit ChannelMaxPlot(QWidget* parent = nullptr);

    // curves[i][channel] for stage names[i]; selected: -1 every stage, else that stage alone.
    void setData(const QStringList& names, const std::vector<std::vector<double>>& curves,
                 int selected = -1);
    // The maximum of a drawn graph (by stage name), NaN if not drawn.
    double drawnMaximum(const QString& stage) const;

    // max / mean of a curve: how far the largest channel stands out.
    static double peakRatio(const std::vector<double>& curve);
};
