#include "app/gui/plots/importanceplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

ImportancePlot::ImportancePlot(QWidget* parent)
    : PlotView(tr("(d) Importance over input columns"), parent)
{
    clearPlot(tr("Choose a layer"));
}

void ImportancePlot::setData(const std::vector<double>& h, int64_t groupSize, int64_t group)
{
    clearPlot();
    if (h.empty())
        return;
    QCustomPlot* p = plot();
    const int64_t n = static_cast<int64_t>(h.size());
    if (groupSize <= 0)
        groupSize = n;
    double lo = HUGE_VAL, hi = 0;
    auto* g = p->addGraph();
    g->setName(tr("importance h"));
    g->setLineStyle(QCPGraph::lsStepCenter);
    g->setPen(QPen(QColor(0x00, 0x72, 0xB2), 1.0));
    for (int64_t i = 0; i < n; ++i) {
        double v = std::max(h[i], 1e-12);
        g->addData(static_cast<double>(i), v);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (!(hi > lo)) {
        lo /= 2;
        hi *= 2;
    }
    auto* shade = new QCPItemRect(p);
    shade->topLeft->setTypeY(QCPItemPosition::ptAxisRectRatio);
    shade->bottomRight->setTypeY(QCPItemPosition::ptAxisRectRatio);
    shade->topLeft->setCoords(group * groupSize - 0.5, 0.0);
    shade->bottomRight->setCoords(std::min((group + 1) * groupSize, n) - 0.5,
                                  1.0);  // a short last group
    shade->setPen(Qt::NoPen);
    shade->setBrush(QColor(0xE6, 0x9F, 0x00, 60));
    shade->setLayer(QStringLiteral("background"));
    if (n / groupSize <= 128)
        for (int64_t b = groupSize; b < n; b += groupSize) {
            auto* line = new QCPItemStraightLine(p);
            line->point1->setCoords(b - 0.5, 1);
            line->point2->setCoords(b - 0.5, 2);
            line->setPen(QPen(QColor(150, 150, 150), 1, Qt::DotLine));
        }
    p->xAxis->setLabel(tr("input column (dotted: group boundaries, shaded: this group)"));
    p->yAxis->setLabel(tr("h (log)"));
    p->yAxis->setScaleType(QCPAxis::stLogarithmic);
    p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    p->xAxis->setRange(-0.5, n - 0.5);
    p->yAxis->setRange(lo / 1.5, hi * 1.5);
    finishPlot(true);
}
