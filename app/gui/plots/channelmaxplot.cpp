#include "app/gui/plots/channelmaxplot.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "app/gui/plots/qcp.h"

namespace {

QColor stageColor(const QString& name)
{
    // Okabe-Ito, in stage order.
    if (name == QLatin1String("input"))
        return QColor(0x55, 0x55, 0x55);
    if (name == QLatin1String("smoothed"))
        return QColor(0xE6, 0x9F, 0x00);
    if (name == QLatin1String("R0"))
        return QColor(0x56, 0xB4, 0xE9);
    if (name == QLatin1String("permuted"))
        return QColor(0xCC, 0x79, 0xA7);
    if (name == QLatin1String("R1"))
        return QColor(0x00, 0x72, 0xB2);
    return QColor(0xD5, 0x5E, 0x00);  // householder
}

}  // namespace

ChannelMaxPlot::ChannelMaxPlot(QWidget* parent)
    : PlotView(tr("Per-channel max |x| after each stage"), parent)
{
    clearPlot(tr("Compute to see the outlier channels"));
}

double ChannelMaxPlot::peakRatio(const std::vector<double>& curve)
{
    if (curve.empty())
        return NAN;
    const double mean = std::accumulate(curve.begin(), curve.end(), 0.0) / curve.size();
    return mean > 0 ? *std::max_element(curve.begin(), curve.end()) / mean : NAN;
}

void ChannelMaxPlot::setData(const QStringList& names,
                             const std::vector<std::vector<double>>& curves, int selected)
{
    clearPlot();
    if (curves.empty()) {
        clearPlot(tr("No activations"));
        return;
    }
    QCustomPlot* p = plot();
    double lo = HUGE_VAL, hi = 0;
    size_t width = 0;
    for (int i = 0; i < names.size() && i < static_cast<int>(curves.size()); ++i) {
        const bool chosen = selected < 0 || i == selected;
        if (!chosen && i != 0)
            continue;
        auto* g = p->addGraph();
        const QColor c = stageColor(names[i]);
        g->setName(QStringLiteral("%1 (%2×)").arg(names[i]).arg(peakRatio(curves[i]), 0, 'f', 1));
        g->setProperty("stage", names[i]);
        QColor pc = c;
        if (!chosen)
            pc.setAlpha(70);  // the input under a chosen stage
        g->setPen(QPen(pc, chosen && selected >= 0 ? 1.8 : 1.2));
        g->setLineStyle(QCPGraph::lsStepCenter);
        QVector<double> xs, ys;
        for (size_t k = 0; k < curves[i].size(); ++k) {
            const double v = std::max(curves[i][k], 1e-12);
            xs << static_cast<double>(k);
            ys << v;
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        width = std::max(width, curves[i].size());
        g->setData(xs, ys, true);
    }
    p->yAxis->setScaleType(QCPAxis::stLogarithmic);
    p->yAxis->setRange(lo / 1.3, hi * 1.3);
    setLogTicks(p, lo / 1.3, hi * 1.3);
    p->xAxis->setRange(-0.5, width - 0.5);
    p->yAxis->setLabel(tr("max |x| over the tokens (log)"));
    p->xAxis->setLabel(tr("channel (legend: largest channel / mean channel)"));
    legendAbove(3);
    finishPlot(true);
}

double ChannelMaxPlot::drawnMaximum(const QString& stage) const
{
    for (int i = 0; i < plot()->graphCount(); ++i) {
        QCPGraph* g = plot()->graph(i);
        if (g->property("stage").toString() != stage)
            continue;
        double m = -HUGE_VAL;
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
            m = std::max(m, it->value);
        return m;
    }
    return NAN;
}
