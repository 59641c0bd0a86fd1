// Perplexity of the original and the quantized model on the same windows, as two bars.
#pragma once

#include <QStringList>

#include <vector>

#include "app/gui/plots/plotview.h"

class PerplexityPlot : public PlotView {
    Q_OBJECT
public:
    explicit PerplexityPlot(QWidget* parent = nullptr);

    // One bar per entry (names[i], values[i]); `what` names the text ("demo text, 8 x 128").
    void setData(const QStringList& names, const std::vector<double>& values, const QString& what);
    QString hoverText(const QPoint& pixel) const override;
    void writeCsv(QTextStream& out) const override;

private:
    QStringList names_;
    std::vector<double> values_;
    QString what_;
};
