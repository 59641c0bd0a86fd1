#include "app/gui/plots/tokenintervalplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

TokenIntervalPlot::TokenIntervalPlot(const QString& title, QWidget* parent)
    : PlotView(title, parent)
{
    clearPlot(tr("Compute to see a token against its quantization intervals"));
}

int TokenIntervalPlot::intervalOf(double v) const
{
    const int levels = static_cast<int>(pic_.midpoints.size());
    if (levels == 0 || !(pic_.step > 0))
        return -1;
    const int q = static_cast<int>(std::upper_bound(pic_.edges.begin(), pic_.edges.end(), v) -
                                   pic_.edges.begin()) -
                  1;
    return std::clamp(q, 0, levels - 1);
}

void TokenIntervalPlot::setData(const IntervalPicture& pic)
{
    pic_ = pic;
    clearPlot();
    if (pic.values.empty()) {
        clearPlot(tr("No values"));
        return;
    }
    if (pic.midpoints.empty()) {
        clearPlot(tr("16-bit activations are not quantized: choose fewer bits"));
        return;
    }
    QCustomPlot* p = plot();
    const double n = static_cast<double>(pic.values.size());
    const double markY = -0.07 * n - 1.0;  // the midpoint / centroid row, below the channels
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (double v : pic.values) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    const int levels = static_cast<int>(pic.midpoints.size());
    // Edges: only those of the span the values cover (and one beyond), so that 8-bit grids
    // do not turn the plot grey.
    const int first = std::max(0, intervalOf(lo)), last = std::min(levels - 1, intervalOf(hi));
    const bool drawEdges = last - first <= 80;
    for (int q = first; drawEdges && q <= last + 1; ++q) {
        auto* e = new QCPItemStraightLine(p);
        e->point1->setCoords(pic.edges[q], 0);
        e->point2->setCoords(pic.edges[q], 1);
        e->setPen(QPen(QColor(150, 150, 150), 1, Qt::DotLine));
    }
    lo = std::min(lo, pic.edges[first]);
    hi = std::max(hi, pic.edges[last + 1]);

    auto* dots = p->addGraph();
    dots->setName(tr("a channel's value"));
    dots->setLineStyle(QCPGraph::lsNone);
    QColor dc = pic.color.isValid() ? pic.color : QColor(0x00, 0x72, 0xB2);
    dc.setAlpha(170);
    dots->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssDisc, dc, pic.values.size() > 300 ? 3 : 5));
    QVector<double> xs, ys;
    for (size_t c = 0; c < pic.values.size(); ++c) {
        xs << pic.values[c];
        ys << static_cast<double>(c);
    }
    dots->setData(xs, ys);

    auto* mids = p->addGraph();
    mids->setName(tr("midpoint (uniform)"));
    mids->setLineStyle(QCPGraph::lsNone);
    mids->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssTriangle, QPen(Qt::black, 1.5), QBrush(Qt::white), 8));
    auto* cents = p->addGraph();
    cents->setName(tr("centroid (Lloyd-Max)"));
    cents->setLineStyle(QCPGraph::lsNone);
    cents->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond,
                                           QPen(QColor(200, 30, 30), 1.5),
                                           QBrush(QColor(230, 60, 60)), 8));
    for (int q = 0; q < levels; ++q) {
        if (pic.counts[q] <= 0)
            continue;
        mids->addData(pic.midpoints[q], markY);
        cents->addData(pic.centroids[q], markY);
        auto* gap = new QCPItemLine(p);
        gap->start->setCoords(pic.midpoints[q], markY);
        gap->end->setCoords(pic.centroids[q], markY);
        gap->setPen(QPen(QColor(200, 30, 30), 2));
    }
    const double pad = 0.03 * std::max(hi - lo, 1e-12);
    p->xAxis->setRange(lo - pad, hi + pad);
    p->yAxis->setRange(markY - 0.06 * n - 1.0, n * 1.03 + 1.0);
    p->xAxis->setLabel(
        tr("value (dotted lines: interval edges, step %1)").arg(pic.step, 0, 'g', 3));
    p->yAxis->setLabel(tr("channel"));
    QSharedPointer<QCPAxisTickerFixed> yt(new QCPAxisTickerFixed);
    yt->setTickStep(std::max(1.0, std::pow(10.0, std::floor(std::log10(std::max(n, 1.0)))) / 2));
    yt->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    p->yAxis->setTicker(yt);
    setCaption(pic.caption);
    legendAbove(3);
    finishPlot(true);
}

QString TokenIntervalPlot::hoverText(const QPoint& pixel) const
{
    QString name;
    double key = 0, value = 0;
    int index = 0;
    if (!nearestPoint(pixel, &name, &key, &value, &index))
        return QString();
    const int q = intervalOf(key);
    if (q < 0)
        return QString();
    const QString interval =
        tr("interval %1 [%2, %3): %4 values, midpoint %5, centroid %6, gap %7 step")
            .arg(q)
            .arg(pic_.edges[q], 0, 'g', 4)
            .arg(pic_.edges[q + 1], 0, 'g', 4)
            .arg(pic_.counts[q])
            .arg(pic_.midpoints[q], 0, 'g', 4)
            .arg(pic_.centroids[q], 0, 'g', 4)
            .arg(std::abs(pic_.centroids[q] - pic_.midpoints[q]) / pic_.step, 0, 'f', 3);
    if (name == tr("a channel's value"))
        return tr("channel %1 = %2; %3")
            .arg(static_cast<int>(value))
            .arg(key, 0, 'g', 4)
            .arg(interval);
    return interval;
}
