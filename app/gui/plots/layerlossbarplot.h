// Per-layer losses of the method and of Min-Max side by side (log scale).
#pragma once

#include <QStringList>

#include <vector>

#include "app/gui/plots/plotview.h"

class LayerLossBarPlot : public PlotView {
    Q_OBJECT
public:
    explicit LayerLossBarPlot(QWidget* parent = nullptr);

    // One entry per layer; NaN = not computed yet. yLabel names the loss compared.
    void setData(const QStringList& layers, const std::vector<double>& method,
                 const std::vector<double>& minmax, const QString& methodName,
                 const QString& yLabel = QString());
    QString hoverText(const QPoint& pixel) const override;
    void writeCsv(QTextStream& out) const override;

Q_SIGNALS:
    void layerClicked(int layer);

private:
    QStringList layers_;
    std::vector<double> method_, minmax_;
    QString methodName_;
};
