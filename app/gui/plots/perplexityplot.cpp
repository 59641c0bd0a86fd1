#include "app/gui/plots/perplexityplot.h"

#include <QTextStream>

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

PerplexityPlot::PerplexityPlot(QWidget* parent) : PlotView(tr("Perplexity"), parent)
{
    clearPlot(tr("Evaluate to compare the original and the quantized model"));
}

void PerplexityPlot::setData(const QStringList& names, const std::vector<double>& values,
                             const QString& what)
{
    names_ = names;
    values_ = values;
    what_ = what;
    clearPlot();
    QCustomPlot* p = plot();
    QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText);
    double hi = 0;
    // original, quantized, distilled (green: the trained parameters), then any further entry.
    const QColor palette[] = {QColor(90, 90, 90), colors::neuqi(), colors::neuqiInt(),
                              colors::minMax()};
    for (int i = 0; i < names.size() && i < static_cast<int>(values.size()); ++i) {
        auto* bars = new QCPBars(p->xAxis, p->yAxis);
        bars->setName(names[i]);
        bars->setBrush(palette[i % 4]);
        bars->setPen(Qt::NoPen);
        bars->setWidth(0.6);
        if (std::isfinite(values[i])) {
            bars->addData(i, values[i]);
            hi = std::max(hi, values[i]);
            auto* label = new QCPItemText(p);
            label->position->setCoords(i, values[i]);
            label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
            label->setText(QString::number(values[i], 'f', values[i] < 100 ? 3 : 1));
            label->setPadding(QMargins(0, 0, 0, 4));
            QFont f = label->font();
            f.setBold(true);
            label->setFont(f);
        }
        xt->addTick(i, names[i]);
    }
    p->xAxis->setTicker(xt);
    p->xAxis->setLabel(what);
    p->yAxis->setLabel(tr("perplexity (lower is better)"));
    p->xAxis->setRange(-0.6, names.size() - 0.4);
    p->yAxis->setRange(0, hi > 0 ? hi * 1.18 : 1.0);
    finishPlot(true);
}

QString PerplexityPlot::hoverText(const QPoint& pixel) const
{
    const int i = static_cast<int>(std::lround(plot()->xAxis->pixelToCoord(pixel.x())));
    if (i < 0 || i >= names_.size() || i >= static_cast<int>(values_.size()))
        return QString();
    QString t = tr("%1: perplexity %2").arg(names_[i]).arg(values_[i], 0, 'g', 6);
    if (i > 0 && values_[0] > 0)
        t += tr(" (%1x the original)").arg(values_[i] / values_[0], 0, 'f', 3);
    return t;
}

void PerplexityPlot::writeCsv(QTextStream& out) const
{
    out << "# " << title() << ": " << what_ << "\n\"model\",\"perplexity\"\n";
    for (int i = 0; i < names_.size() && i < static_cast<int>(values_.size()); ++i)
        out << '"' << names_[i] << "\"," << QString::number(values_[i], 'g', 10) << "\n";
}
