#include "app/gui/plots/distilllossplot.h"

#include <QTextStream>

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

DistillLossPlot::DistillLossPlot(QWidget* parent)
    : PlotView(tr("Distillation loss per step"), parent), before_(NAN), after_(NAN)
{
    clearPlot(tr("Distill a result (Job panel, Distill page) to see its loss fall"));
}

void DistillLossPlot::start(int64_t steps)
{
    clearPlot();
    values_.clear();
    steps_ = steps;
    before_ = after_ = NAN;
    QCustomPlot* p = plot();
    graph_ = p->addGraph();
    graph_->setName(tr("loss per step"));
    graph_->setPen(QPen(colors::neuqi(), 1.6));
    p->xAxis->setLabel(tr("step"));
    p->yAxis->setLabel(tr("MSE of the final hidden states"));
    rescale();
}

void DistillLossPlot::addStep(int64_t step, int64_t steps, double loss)
{
    if (!graph_ || steps != steps_)
        start(steps);
    graph_->addData(static_cast<double>(step), loss);
    values_.push_back(loss);
    rescale();
}

void DistillLossPlot::setCurve(const std::vector<double>& loss, double before, double after)
{
    start(static_cast<int64_t>(loss.size()));
    for (size_t i = 0; i < loss.size(); ++i)
        graph_->addData(static_cast<double>(i + 1), loss[i]);
    values_ = loss;
    before_ = before;
    after_ = after;
    QCustomPlot* p = plot();
    auto line = [&](double y, const QColor& c, const QString& label) {
        if (!std::isfinite(y))
            return;
        auto* l = new QCPItemStraightLine(p);
        l->point1->setCoords(0, y);
        l->point2->setCoords(1, y);
        l->setPen(QPen(c, 1.2, Qt::DashLine));
        auto* t = new QCPItemText(p);
        t->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        t->position->setTypeY(QCPItemPosition::ptPlotCoords);
        t->position->setCoords(0.98, y);
        t->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        t->setText(label);
        t->setColor(c.darker(130));
    };
    line(before, colors::minMax(), tr("all sequences, before: %1").arg(before, 0, 'g', 4));
    line(after, colors::neuqiInt(), tr("after: %1").arg(after, 0, 'g', 4));
    rescale();
}

void DistillLossPlot::rescale()
{
    QCustomPlot* p = plot();
    double lo = INFINITY, hi = -INFINITY;
    for (double v : values_)
        if (std::isfinite(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    for (double v : {before_, after_})
        if (std::isfinite(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    if (!std::isfinite(lo)) {
        lo = 0.0;
        hi = 1.0;
    }
    const double pad = hi > lo ? 0.08 * (hi - lo) : std::max(1e-12, 0.05 * std::abs(hi));
    p->xAxis->setRange(0.5, std::max<double>(1.0, static_cast<double>(steps_)) + 0.5);
    p->yAxis->setRange(std::max(0.0, lo - pad), hi + 2.0 * pad);
    finishPlot(true);
}

QString DistillLossPlot::hoverText(const QPoint& pixel) const
{
    const long i = std::lround(plot()->xAxis->pixelToCoord(pixel.x()));
    if (i < 1 || i > static_cast<long>(values_.size()))
        return QString();
    return tr("step %1: loss %2").arg(i).arg(values_[static_cast<size_t>(i - 1)], 0, 'g', 6);
}

void DistillLossPlot::writeCsv(QTextStream& out) const
{
    out << "# " << title() << "\n\"step\",\"loss\"\n";
    for (size_t i = 0; i < values_.size(); ++i)
        out << i + 1 << "," << QString::number(values_[i], 'g', 17) << "\n";
}
