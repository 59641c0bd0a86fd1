#include "app/gui/plots/tokenerrorplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

TokenErrorPlot::TokenErrorPlot(QWidget* parent)
    : PlotView(tr("Per-token quantization error, before and after"), parent)
{
    connect(this, &PlotView::clicked, this, [this](double x, double) {
        const int t = static_cast<int>(std::lround(x));
        if (t >= 0 && t < static_cast<int>(before_.size()))
            Q_EMIT tokenClicked(t);
    });
    clearPlot(tr("Compute to see the error of every token"));
}

void TokenErrorPlot::setData(const std::vector<double>& before, const std::vector<double>& after,
                             const QString& afterName, int selectedToken,
                             const QStringList& tokenText)
{
    before_ = before;
    after_ = after;
    text_ = tokenText;
    clearPlot();
    if (before.empty()) {
        clearPlot(tr("No tokens"));
        return;
    }
    QCustomPlot* p = plot();
    double hi = 0;
    auto add = [&](const std::vector<double>& v, const QString& name, const QColor& c) {
        auto* g = p->addGraph();
        g->setName(name);
        g->setPen(QPen(c, 1.2));
        QVector<double> xs, ys;
        for (size_t i = 0; i < v.size(); ++i) {
            xs << static_cast<double>(i);
            ys << v[i];
            if (std::isfinite(v[i]))
                hi = std::max(hi, v[i]);
        }
        g->setData(xs, ys, true);
    };
    auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v)
            s += x;
        return v.empty() ? 0.0 : s / v.size();
    };
    add(before, tr("no transform (mean %1)").arg(mean(before), 0, 'f', 4),
        QColor(0xE6, 0x9F, 0x00));
    add(after, tr("%1 (mean %2)").arg(afterName).arg(mean(after), 0, 'f', 4),
        QColor(0x00, 0x72, 0xB2));
    if (selectedToken >= 0 && selectedToken < static_cast<int>(before.size())) {
        auto* line = new QCPItemStraightLine(p);
        line->point1->setCoords(selectedToken, 0);
        line->point2->setCoords(selectedToken, 1);
        line->setPen(QPen(QColor(200, 30, 30, 160), 1, Qt::DashLine));
        auto* label = new QCPItemText(p);
        label->position->setType(QCPItemPosition::ptPlotCoords);
        label->position->setCoords(selectedToken, hi * 1.1);
        // Beside the line, on the side with room.
        const bool right = selectedToken < 0.7 * static_cast<double>(before.size());
        label->setPositionAlignment((right ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter);
        label->setPadding(right ? QMargins(4, 0, 0, 0) : QMargins(0, 0, 4, 0));
        label->setColor(QColor(160, 20, 20));
        QString piece = text_.value(selectedToken);
        label->setText(piece.isEmpty() ? tr("token %1").arg(selectedToken)
                                       : tr("token %1 '%2'").arg(selectedToken).arg(piece));
    }
    p->xAxis->setLabel(tr("token (sequences one after another)"));
    p->yAxis->setLabel(tr("||fq(x) - x|| / ||x||"));
    p->xAxis->setRange(-0.5, before.size() - 0.5);
    p->yAxis->setRange(0, std::max(hi, 1e-9) * 1.18);
    legendAbove(2);
    finishPlot(true);
}

QString TokenErrorPlot::hoverText(const QPoint& pixel) const
{
    if (before_.empty())
        return QString();
    const int t = static_cast<int>(std::lround(plot()->xAxis->pixelToCoord(pixel.x())));
    if (t < 0 || t >= static_cast<int>(before_.size()))
        return QString();
    const QString piece = text_.value(t);
    return tr("token %1%2: error %3 without, %4 with the transform (click to choose)")
        .arg(t)
        .arg(piece.isEmpty() ? QString() : QStringLiteral(" '%1'").arg(piece))
        .arg(before_[t], 0, 'f', 4)
        .arg(t < static_cast<int>(after_.size()) ? after_[t] : NAN, 0, 'f', 4);
}
