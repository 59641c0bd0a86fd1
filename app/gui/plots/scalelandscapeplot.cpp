#include "app/gui/plots/scalelandscapeplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

ScaleLandscapePlot::ScaleLandscapePlot(QWidget* parent)
    : PlotView(tr("(c) Scale landscape L(s, z*(s))"), parent)
{
    clearPlot(tr("Choose a layer"));
}

void ScaleLandscapePlot::setData(const ScaleCurve& d)
{
    clearPlot();
    if (d.scale.empty())
        return;
    QCustomPlot* p = plot();
    const double s0 = d.s0 > 0 ? d.s0 : 1.0;
    auto series = [&](const QString& name, const std::vector<double>& s,
                      const std::vector<double>& l) {
        auto* g = p->addGraph();
        g->setName(name);
        for (size_t k = 0; k < s.size() && k < l.size(); ++k)
            if (l[k] > 0 && std::isfinite(l[k]))
                g->addData(s[k] / s0, l[k]);
        return g;
    };
    auto* curve = series(tr("L(s, z*(s))"), d.scale, d.loss);
    curve->setPen(QPen(QColor(60, 60, 60), 1.4));
    if (!d.coarseScale.empty()) {
        auto* coarse = series(tr("coarse candidates"), d.coarseScale, d.coarseLoss);
        coarse->setLineStyle(QCPGraph::lsNone);
        coarse->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(0x56, 0xB4, 0xE9), Qt::white, 6));
    }
    if (!d.fineScale.empty()) {
        auto* fine = series(tr("fine candidates"), d.fineScale, d.fineLoss);
        fine->setLineStyle(QCPGraph::lsNone);
        fine->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross,
                                              QPen(QColor(0xD5, 0x5E, 0x00), 1.5), Qt::NoBrush, 6));
    }
    const QCPScatterStyle::ScatterShape shapes[] = {
        QCPScatterStyle::ssStar, QCPScatterStyle::ssSquare, QCPScatterStyle::ssDiamond,
        QCPScatterStyle::ssTriangle};
    int k = 0;
    for (const PlotMarker& m : d.markers) {
        auto* g = p->addGraph();
        g->setName(m.name);
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(shapes[k++ % 4], QPen(m.color, 2.5), Qt::NoBrush, 14));
        if (m.y > 0)
            g->addData(m.x / s0, m.y);
    }
    p->xAxis->setLabel(tr("scale s / s0 (Min-Max scale)"));
    p->yAxis->setLabel(tr("loss at the best z (log)"));
    p->yAxis->setScaleType(QCPAxis::stLogarithmic);
    p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    p->rescaleAxes(true);
    // Very small scales clip everything and dominate the range: show from the best loss up to 30x.
    double best = HUGE_VAL, top = 0;
    for (auto it = curve->data()->constBegin(); it != curve->data()->constEnd(); ++it) {
        best = std::min(best, it->value);
        top = std::max(top, it->value);
    }
    if (best < HUGE_VAL)
        p->yAxis->setRange(best / 1.5, std::min(top * 1.5, best * 30));
    p->xAxis->setRange(0, std::max(1.08, p->xAxis->range().upper * 1.03));
    finishPlot(true);
}
