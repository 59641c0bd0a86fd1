#include "app/gui/plots/zcurveplot.h"

#include <algorithm>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

ZCurvePlot::ZCurvePlot(QWidget* parent) : PlotView(tr("(b) L(z) at the chosen scale"), parent)
{
    clearPlot(tr("Choose a layer"));
}

void ZCurvePlot::setData(const zp::analysis::ZCurve& c, const std::vector<PlotMarker>& markers)
{
    clearPlot();
    if (c.z.empty())
        return;
    QCustomPlot* p = plot();
    double lo = *std::min_element(c.loss.begin(), c.loss.end());
    double hi = *std::max_element(c.loss.begin(), c.loss.end());
    if (!(hi > lo))
        hi = lo + 1e-12;
    auto* curve = p->addGraph();
    curve->setName(tr("L(z)"));
    curve->setPen(QPen(QColor(60, 60, 60), 1.6));
    curve->setData(QVector<double>(c.z.begin(), c.z.end()),
                   QVector<double>(c.loss.begin(), c.loss.end()), true);

    // Break points as short ticks along the bottom.
    auto* ticks = p->addGraph();
    ticks->setName(tr("break point"));
    ticks->setLineStyle(QCPGraph::lsNone);
    QPainterPath tick;
    tick.moveTo(0, -5);
    tick.lineTo(0, 5);
    ticks->setScatterStyle(QCPScatterStyle(tick, QPen(QColor(120, 120, 120), 1), Qt::NoBrush, 10));
    const double base = lo - 0.04 * (hi - lo);
    for (double b : c.breakpoints)
        ticks->addData(b, base);

    auto* ints = p->addGraph();
    ints->setName(tr("integer z"));
    ints->setLineStyle(QCPGraph::lsNone);
    ints->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(90, 90, 90), Qt::white, 7));
    for (size_t k = 0; k < c.int_z.size(); ++k)
        if (c.int_z[k] >= c.z.front() && c.int_z[k] <= c.z.back())
            ints->addData(c.int_z[k], c.int_loss[k]);

    auto* opt = p->addGraph();
    opt->setName(tr("optimum z*"));
    opt->setLineStyle(QCPGraph::lsNone);
    opt->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssStar, QPen(colors::neuqi(), 2.5), Qt::NoBrush, 16));
    opt->addData(c.z_opt, c.loss_opt);

    for (const PlotMarker& m : markers) {
        auto* g = p->addGraph();
        g->setName(m.name);
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssSquare, QPen(m.color, 2.5), Qt::NoBrush, 11));
        g->addData(m.x, m.y);
    }
    p->xAxis->setLabel(tr("zero-point z"));
    p->yAxis->setLabel(tr("loss L (weighted MSE)"));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignHCenter);
    p->xAxis->setRange(c.z.front(), c.z.back());
    p->yAxis->setRange(base - 0.04 * (hi - lo), hi + 0.1 * (hi - lo));
    finishPlot(true);
}
