#include "app/gui/plots/groupvaluesplot.h"

#include <algorithm>
#include <numeric>

#include "app/gui/plots/qcp.h"

GroupValuesPlot::GroupValuesPlot(QWidget* parent)
    : PlotView(tr("Values (sorted) and the quantization grid"), parent)
{
    clearPlot(tr("Computing…"));
}

void GroupValuesPlot::setData(const std::vector<double>& w, const std::vector<double>& quantized,
                              const std::vector<double>& levels, const QColor& color,
                              const QString& name)
{
    clearPlot();
    if (w.empty() || quantized.size() != w.size())
        return;
    QCustomPlot* p = plot();
    std::vector<size_t> order(w.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return w[a] < w[b]; });
    QVector<double> x(static_cast<int>(w.size())), yw(x.size()), yq(x.size());
    for (int k = 0; k < x.size(); ++k) {
        x[k] = k;
        yw[k] = w[order[k]];
        yq[k] = quantized[order[k]];
    }
    double lo = std::min(yw.front(), *std::min_element(levels.begin(), levels.end()));
    double hi = std::max(yw.back(), *std::max_element(levels.begin(), levels.end()));
    if (levels.size() <= 64)
        for (double l : levels) {
            auto* line = new QCPItemStraightLine(p);
            line->point1->setCoords(0, l);
            line->point2->setCoords(1, l);
            QColor c = color;
            c.setAlpha(110);
            line->setPen(QPen(c, 1, Qt::DashLine));
        }
    auto* gw = p->addGraph();
    gw->setName(tr("weight w (sorted)"));
    gw->setLineStyle(QCPGraph::lsNone);
    gw->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(80, 80, 80), w.size() > 1024 ? 2 : 4));
    gw->setData(x, yw, true);
    auto* gq = p->addGraph();
    gq->setName(tr("Q(w), %1").arg(name));
    gq->setPen(QPen(color, 2.0));
    gq->setLineStyle(QCPGraph::lsStepLeft);
    gq->setData(x, yq, true);
    p->xAxis->setLabel(tr("rank of the weight (dashed: the %1 levels)").arg(levels.size()));
    p->yAxis->setLabel(tr("value"));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    p->xAxis->setRange(-1, x.size());
    p->yAxis->setRange(lo - 0.06 * (hi - lo), hi + 0.06 * (hi - lo));
    finishPlot(true);
}
