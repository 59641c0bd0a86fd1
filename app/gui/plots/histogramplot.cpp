#include "app/gui/plots/histogramplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

HistogramPlot::HistogramPlot(QWidget* parent)
    : PlotView(tr("(a) Weights of the group and quantization levels"), parent)
{
    clearPlot(tr("Choose a layer"));
}

void HistogramPlot::setData(const std::vector<double>& values, const std::vector<LevelSet>& levels)
{
    clearPlot();
    if (values.empty())
        return;
    QCustomPlot* p = plot();
    double lo = *std::min_element(values.begin(), values.end());
    double hi = *std::max_element(values.begin(), values.end());
    for (const LevelSet& s : levels)
        for (double l : s.levels) {
            lo = std::min(lo, l);
            hi = std::max(hi, l);
        }
    if (!(hi > lo))
        hi = lo + 1e-6;
    const int bins =
        std::clamp(static_cast<int>(2 * std::sqrt(static_cast<double>(values.size()))), 16, 96);
    const double width = (hi - lo) / bins;
    std::vector<double> count(bins, 0.0);
    for (double v : values)
        count[std::clamp(static_cast<int>((v - lo) / width), 0, bins - 1)] += 1;
    auto* bars = new QCPBars(p->xAxis, p->yAxis);
    bars->setName(tr("weights"));
    bars->setWidth(width);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(150, 150, 150, 170));
    double top = 1;
    for (int b = 0; b < bins; ++b) {
        bars->addData(lo + (b + 0.5) * width, count[b]);
        top = std::max(top, count[b]);
    }
    // Each level set: vertical impulses topped by a marker (hover shows the level's value).
    double height = top * 1.15;
    const QCPScatterStyle::ScatterShape shapes[] = {
        QCPScatterStyle::ssDiamond, QCPScatterStyle::ssTriangleInverted, QCPScatterStyle::ssCircle};
    int k = 0;
    for (const LevelSet& s : levels) {
        auto* g = p->addGraph();
        g->setName(s.name);
        g->setLineStyle(QCPGraph::lsImpulse);
        QPen pen(s.color, 2.0);
        pen.setStyle(k == 0 ? Qt::DashLine : Qt::SolidLine);
        g->setPen(pen);
        g->setScatterStyle(QCPScatterStyle(shapes[k % 3], s.color, s.color, 9));
        for (double l : s.levels)
            g->addData(l, height);
        height *= 0.9;
        ++k;
    }
    p->xAxis->setLabel(tr("weight value"));
    p->yAxis->setLabel(tr("count"));
    p->legend->setVisible(true);
    p->xAxis->setRange(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo));
    p->yAxis->setRange(0, top * 1.3);
    finishPlot(true);
}
