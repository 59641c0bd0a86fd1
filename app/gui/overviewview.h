// The overview after a job: a heatmap of blocks x layer types coloured by the loss ratio to
// Min-Max, a bar chart of both losses per layer, and a sortable, filterable table of every layer;
// after a run with activation quantization or a transform, next to the weight heatmap, one of
// blocks x linear-input groups with each group's activation error
// (quant::GroupTransform::act_error, coloured by act_error / act_error_plain). Layers whose
// parameters clip a weight at least k standard deviations out are flagged in the table and
// counted in a line above it.
#pragma once

#include <QWidget>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QLabel;
class QLineEdit;
class QSplitter;
class QSortFilterProxyModel;
class QTableView;
class LayerTableModel;
class LayerHeatmapPlot;
class LayerLossBarPlot;
class PlotView;

class OverviewView : public QWidget {
    Q_OBJECT
public:
    explicit OverviewView(QWidget* parent = nullptr);

    void setModel(ModelPtr model);
    void setResult(const LayerResult& r);
    void clearResults();
    // The activation-error heatmap of a run (hidden when it has no transforms or qm is null).
    void setActivationErrors(const QuantizedModelPtr& qm);
    bool hasActivationErrors() const;
    // The threshold of the clipped-weight flag (standard deviations).
    void setOutlierThreshold(double k);
    QString outlierNote() const;

    LayerTableModel* tableModel() const { return table_; }
    QSortFilterProxyModel* proxyModel() const { return proxy_; }
    QTableView* tableView() const { return view_; }
    QList<PlotView*> plots() const;

Q_SIGNALS:
    void layerActivated(int layer);
    // The Clipped cell of a layer was clicked: show its outliers.
    void outliersActivated(int layer);

private:
    void redraw();

    ModelPtr model_;
    LayerTableModel* table_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    QTableView* view_ = nullptr;
    QLineEdit* filter_ = nullptr;
    QLabel* outlierNote_ = nullptr;
    LayerHeatmapPlot* heatmap_ = nullptr;
    LayerLossBarPlot* bars_ = nullptr;
    LayerHeatmapPlot* actHeatmap_ = nullptr;
    QSplitter* plotSplit_ = nullptr;
    bool redrawPending_ = false;
};
