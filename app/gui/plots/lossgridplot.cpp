#include "app/gui/plots/lossgridplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

LossGridPlot::LossGridPlot(QWidget* parent)
    : PlotView(tr("(f) L(s, z) with the path z*(s)"), parent)
{
    clearPlot(tr("Choose a layer"));
}

void LossGridPlot::setData(const zp::analysis::LossGrid& g, double s0,
                           const std::vector<PlotMarker>& markers)
{
    clearPlot();
    if (g.scales.size() < 2 || g.zeros.size() < 2)
        return;
    QCustomPlot* p = plot();
    if (!(s0 > 0))
        s0 = 1.0;
    const int ns = static_cast<int>(g.scales.size()), nz = static_cast<int>(g.zeros.size());
    auto* map = new QCPColorMap(p->xAxis, p->yAxis);
    map->setName(tr("log10 L"));
    map->removeFromLegend();
    map->data()->setSize(ns, nz);
    map->data()->setRange(QCPRange(g.scales.front() / s0, g.scales.back() / s0),
                          QCPRange(g.zeros.front(), g.zeros.back()));
    for (int a = 0; a < ns; ++a)
        for (int b = 0; b < nz; ++b)
            map->data()->setCell(
                a, b, std::log10(std::max(g.loss[static_cast<size_t>(a) * nz + b], 1e-300)));
    if (!scale_) {  // created once: it lives in the plot layout, which clearPlot() keeps
        scale_ = new QCPColorScale(p);
        p->plotLayout()->addElement(0, 1, scale_);
        scale_->setLabel(tr("log10 L"));
        auto* margins = new QCPMarginGroup(p);
        p->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
        scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    }
    map->setColorScale(scale_);  // the map takes the scale's gradient and range: set them after
    QCPColorGradient grad;       // viridis, reversed: low loss = bright yellow, high loss = dark
    grad.clearColorStops();
    grad.setColorStopAt(0.0, QColor(0xfd, 0xe7, 0x25));
    grad.setColorStopAt(0.33, QColor(0x35, 0xb7, 0x79));
    grad.setColorStopAt(0.66, QColor(0x31, 0x68, 0x8e));
    grad.setColorStopAt(1.0, QColor(0x44, 0x01, 0x54));
    map->setGradient(grad);
    map->setInterpolate(false);
    map->rescaleDataRange(true);
    auto* path = new QCPCurve(p->xAxis, p->yAxis);
    path->setName(tr("z*(s)"));
    path->setPen(QPen(QColor(255, 255, 255), 2.0));
    for (int a = 0; a < ns && a < static_cast<int>(g.z_star.size()); ++a)
        path->addData(g.scales[a] / s0, g.z_star[a]);
    const QCPScatterStyle::ScatterShape shapes[] = {
        QCPScatterStyle::ssStar, QCPScatterStyle::ssSquare, QCPScatterStyle::ssDiamond};
    int k = 0;
    for (const PlotMarker& m : markers) {
        auto* gr = p->addGraph();
        gr->setName(m.name);
        gr->setLineStyle(QCPGraph::lsNone);
        gr->setScatterStyle(
            QCPScatterStyle(shapes[k++ % 3], QPen(m.color, 2.5), QColor(255, 255, 255, 200), 14));
        gr->addData(m.x / s0, m.y);
    }
    p->xAxis->setLabel(tr("scale s / s0"));
    p->yAxis->setLabel(tr("zero-point z"));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    p->xAxis->setRange(g.scales.front() / s0, g.scales.back() / s0);
    p->yAxis->setRange(g.zeros.front(), g.zeros.back());
    finishPlot(true);
}
