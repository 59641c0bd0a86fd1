// (e) Per-row error, Min-Max (x) against the method (y), log-log, with the diagonal y = x: every
// point below the diagonal is a row the method improves. Clicking a point chooses that row.
#pragma once

#include <vector>

#include "app/gui/plots/plotview.h"

class RowErrorPlot : public PlotView {
    Q_OBJECT
public:
    explicit RowErrorPlot(QWidget* parent = nullptr);
    void setData(const std::vector<double>& minmax, const std::vector<double>& method,
                 const QString& methodName, int selectedRow);
    QString hoverText(const QPoint& pixel) const override;
    // Where the point of `row` is drawn on canvas() (for tests); (-1, -1) if absent.
    QPoint pixelOfRow(int row) const;

Q_SIGNALS:
    void rowClicked(int row);
};
