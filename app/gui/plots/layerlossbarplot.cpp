#include "app/gui/plots/layerlossbarplot.h"

#include <QTextStream>

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

LayerLossBarPlot::LayerLossBarPlot(QWidget* parent)
    : PlotView(tr("Layer loss: method vs Min-Max"), parent)
{
    connect(this, &PlotView::clicked, this, [this](double x, double) {
        int i = static_cast<int>(std::lround(x));
        if (i >= 0 && x > -0.5)
            Q_EMIT layerClicked(i);
    });
    clearPlot(tr("Run a job to see the losses"));
}

void LayerLossBarPlot::setData(const QStringList& layers, const std::vector<double>& method,
                               const std::vector<double>& minmax, const QString& methodName,
                               const QString& yLabel)
{
    layers_ = layers;
    method_ = method;
    minmax_ = minmax;
    methodName_ = methodName;
    clearPlot();
    QCustomPlot* p = plot();
    auto* group = new QCPBarsGroup(p);
    auto* mm = new QCPBars(p->xAxis, p->yAxis);
    auto* me = new QCPBars(p->xAxis, p->yAxis);
    mm->setName(tr("Min-Max"));
    me->setName(methodName);
    mm->setBrush(colors::minMax());
    me->setBrush(colors::neuqi());
    mm->setPen(Qt::NoPen);
    me->setPen(Qt::NoPen);
    mm->setWidth(0.4);
    me->setWidth(0.4);
    mm->setBarsGroup(group);
    me->setBarsGroup(group);
    mm->setBaseValue(1e-30);
    me->setBaseValue(1e-30);
    double lo = HUGE_VAL, hi = 0;
    QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText);
    const int labelStep = std::max(1, static_cast<int>((layers.size() + 55) / 56));
    for (int i = 0; i < layers.size(); ++i) {
        if (i % labelStep == 0)  // big models: label every k-th layer, hover names them all
            xt->addTick(i, layers[i]);
        for (auto [bars, v] : {std::pair{mm, minmax[i]}, std::pair{me, method[i]}})
            if (std::isfinite(v) && v > 0) {
                bars->addData(i, v);
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
    }
    p->xAxis->setTicker(xt);
    p->xAxis->setTickLabelRotation(-60);  // labels end at their tick: the last one stays inside
    p->xAxis->setLabel(tr("layer"));
    p->yAxis->setLabel(yLabel.isEmpty() ? tr("loss (diag, sum over rows)") : yLabel);
    p->yAxis->setScaleType(QCPAxis::stLogarithmic);
    p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    p->xAxis->setRange(-0.7, layers.size() - 0.3);
    if (hi > 0)
        p->yAxis->setRange(lo / 2, hi * 3);
    finishPlot(true);
}

QString LayerLossBarPlot::hoverText(const QPoint& pixel) const
{
    const int i = static_cast<int>(std::lround(plot()->xAxis->pixelToCoord(pixel.x())));
    if (i < 0 || i >= layers_.size() || !std::isfinite(method_[i]))
        return QString();
    return tr("%1: %2 %3, Min-Max %4 (ratio %5) - click to inspect")
        .arg(layers_[i], methodName_)
        .arg(method_[i], 0, 'g', 4)
        .arg(minmax_[i], 0, 'g', 4)
        .arg(method_[i] / minmax_[i], 0, 'f', 3);
}

void LayerLossBarPlot::writeCsv(QTextStream& out) const
{
    out << "# " << title() << "\n\"layer\",\"" << methodName_ << " loss\",\"Min-Max loss\"\n";
    for (int i = 0; i < layers_.size(); ++i) {
        out << layers_[i] << ",";
        if (std::isfinite(method_[i]))
            out << QString::number(method_[i], 'g', 10);
        out << ",";
        if (std::isfinite(minmax_[i]))
            out << QString::number(minmax_[i], 'g', 10);
        out << "\n";
    }
}
