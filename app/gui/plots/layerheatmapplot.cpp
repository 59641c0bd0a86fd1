#include "app/gui/plots/layerheatmapplot.h"

#include <QTextStream>

#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

LayerHeatmapPlot::LayerHeatmapPlot(QWidget* parent)
    : LayerHeatmapPlot(tr("Loss relative to Min-Max, per layer"),
                       tr("loss / Min-Max (green: lower, red: no gain)"), parent)
{
}

LayerHeatmapPlot::LayerHeatmapPlot(const QString& title, const QString& keyLabel, QWidget* parent)
    : PlotView(title, parent), keyLabel_(keyLabel)
{
    connect(this, &PlotView::clicked, this, [this](double x, double y) {
        int b, t;
        if (cellAt(x, y, &b, &t))
            Q_EMIT cellClicked(b, t);
    });
    clearPlot(tr("Run a job to see which layers gain most"));
}

void LayerHeatmapPlot::setMagnitudeRange(double lo, double hi, const QString& keyLabel)
{
    magnitude_ = true;
    lo_ = lo;
    hi_ = hi > lo ? hi : lo + 1.0;
    if (!keyLabel.isEmpty())
        keyLabel_ = keyLabel;
}

QColor LayerHeatmapPlot::colorOf(double v) const
{
    return magnitude_ ? colors::sequential((v - lo_) / (hi_ - lo_)) : colors::ratio(v);
}

bool LayerHeatmapPlot::cellAt(double x, double y, int* block, int* type) const
{
    *type = static_cast<int>(std::lround(x));
    *block = static_cast<int>(std::lround(y));
    return *type >= 0 && *type < types_.size() && *block >= 0 && *block < blocks_;
}

void LayerHeatmapPlot::setData(const QStringList& types, int blocks,
                               const std::vector<double>& values, const QString& valueName,
                               const QStringList& labels, const QStringList& details)
{
    labels_ = labels;
    details_ = details;
    types_ = types;
    blocks_ = blocks;
    values_ = values;
    valueName_ = valueName;
    clearPlot();
    QCustomPlot* p = plot();
    // Coloured rectangles (not a QCPColorMap) so that every cell gets exactly the colour the model
    // browser uses for the same value.
    auto* cells = new QCPBars(p->xAxis, p->yAxis);  // placeholder plottable for counting/export
    cells->setName(valueName);
    cells->setVisible(false);
    for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < types.size(); ++t) {
            const double v = values[static_cast<size_t>(b) * types.size() + t];
            auto* r = new QCPItemRect(p);
            r->topLeft->setCoords(t - 0.48, b + 0.46);
            r->bottomRight->setCoords(t + 0.48, b - 0.46);
            r->setPen(Qt::NoPen);
            r->setBrush(colorOf(v));
            auto* text = new QCPItemText(p);
            text->position->setCoords(t, b);
            const int cell = b * static_cast<int>(types.size()) + t;
            QString label =
                cell < labels.size() && !labels[cell].isEmpty()
                    ? labels[cell]
                    : (std::isfinite(v) ? QString::number(v, 'f', 3) : QStringLiteral("–"));
            // Many blocks leave a line of text per cell (a 30-block model: small text).
            if (blocks > 10)
                label = label.section('\n', 0, 0);
            text->setText(label);
            if (blocks > 16) {
                QFont f = text->font();
                f.setPointSizeF(f.pointSizeF() * (blocks > 24 ? 0.7 : 0.8));
                text->setFont(f);
            }
            text->setColor(QColor(30, 30, 30));
            if (std::isfinite(v))
                cells->addData(b * types.size() + t, v);
        }
    QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText);
    for (int t = 0; t < types.size(); ++t)
        xt->addTick(t, types[t]);
    QSharedPointer<QCPAxisTickerText> yt(new QCPAxisTickerText);
    for (int b = 0; b < blocks; ++b)
        yt->addTick(b, QStringLiteral("block %1").arg(b));
    p->xAxis->setTicker(xt);
    p->yAxis->setTicker(yt);
    if (!key_) {  // the colour key, created once (clearPlot() keeps layout elements)
        key_ = new QCPColorScale(p);
        p->plotLayout()->addElement(0, 1, key_);
        key_->setBarWidth(12);
        auto* margins = new QCPMarginGroup(p);
        p->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
        key_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    }
    key_->setLabel(keyLabel_);
    const double lo = magnitude_ ? lo_ : colors::kRatioLow,
                 hi = magnitude_ ? hi_ : colors::kRatioHigh;
    QCPColorGradient g;
    g.clearColorStops();
    for (int k = 0; k <= 10; ++k)
        g.setColorStopAt(k / 10.0, colorOf(lo + (hi - lo) * k / 10.0));
    key_->setGradient(g);
    key_->setDataRange(QCPRange(lo, hi));
    p->xAxis->grid()->setVisible(false);
    p->yAxis->grid()->setVisible(false);
    p->xAxis->setLabel(tr("layer type"));
    p->yAxis->setLabel(tr("block"));
    p->xAxis->setRange(-0.5, types.size() - 0.5);
    p->yAxis->setRange(-0.5, blocks - 0.5);
    p->yAxis->setRangeReversed(true);
    finishPlot(true);
}

QString LayerHeatmapPlot::hoverText(const QPoint& pixel) const
{
    int b, t;
    if (!cellAt(plot()->xAxis->pixelToCoord(pixel.x()), plot()->yAxis->pixelToCoord(pixel.y()), &b,
                &t))
        return QString();
    const size_t cell = static_cast<size_t>(b) * types_.size() + t;
    const double v = values_[cell];
    const QString detail = details_.value(static_cast<int>(cell));
    return QStringLiteral("block %1 %2: %3 = %4%5 (click to inspect)")
        .arg(b)
        .arg(types_[t], valueName_,
             std::isfinite(v) ? QString::number(v, 'f', 4) : tr("not computed"),
             detail.isEmpty() ? QString() : QStringLiteral(", ") + detail);
}

void LayerHeatmapPlot::writeCsv(QTextStream& out) const
{
    out << "# " << title() << "\n\"block\",\"layer type\",\"" << valueName_ << "\""
        << (details_.isEmpty() ? "" : ",\"details\"") << "\n";
    for (int b = 0; b < blocks_; ++b)
        for (int t = 0; t < types_.size(); ++t) {
            const double v = values_[static_cast<size_t>(b) * types_.size() + t];
            out << b << "," << types_[t] << ",";
            if (std::isfinite(v))
                out << QString::number(v, 'g', 10);
            if (!details_.isEmpty())
                out << ",\"" << details_.value(b * static_cast<int>(types_.size()) + t) << "\"";
            out << "\n";
        }
}
