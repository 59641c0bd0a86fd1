// Blocks x layer types, each cell coloured by a ratio (loss of the method / loss of Min-Max, or
// activation error with / without the transform) and labelled with its value (or a label given
// per cell). NaN cells (not computed yet) stay grey. setMagnitudeRange() switches to a sequential
// scale over [lo, hi] for values without a good or bad side.
#pragma once

#include <QColor>
#include <QStringList>

#include <vector>

class QCPColorScale;

#include "app/gui/plots/plotview.h"

class LayerHeatmapPlot : public PlotView {
    Q_OBJECT
public:
    explicit LayerHeatmapPlot(QWidget* parent = nullptr);
    // Another ratio: its title and the colour key's label.
    LayerHeatmapPlot(const QString& title, const QString& keyLabel, QWidget* parent = nullptr);

    // values[block * types.size() + type]; labels (optional, same layout): the cell texts, else
    // the values; details (optional): more for the hover and the CSV.
    void setData(const QStringList& types, int blocks, const std::vector<double>& values,
                 const QString& valueName, const QStringList& labels = {},
                 const QStringList& details = {});
    // Colours from colors::sequential over [lo, hi] instead of the ratio scale (call before
    // setData); keyLabel: the colour key's new label (empty: unchanged).
    void setMagnitudeRange(double lo, double hi, const QString& keyLabel = QString());
    const std::vector<double>& values() const { return values_; }
    QString hoverText(const QPoint& pixel) const override;
    void writeCsv(QTextStream& out) const override;

Q_SIGNALS:
    void cellClicked(int block, int type);

private:
    bool cellAt(double x, double y, int* block, int* type) const;

    QStringList types_;
    int blocks_ = 0;
    std::vector<double> values_;
    QString valueName_, keyLabel_;
    QStringList labels_, details_;
    QCPColorScale* key_ = nullptr;
    bool magnitude_ = false;
    double lo_ = 0.0, hi_ = 1.0;
    QColor colorOf(double v) const;
};
