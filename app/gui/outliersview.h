// The Outliers tab: for the selected layer, the weights far out of the layer's distribution (at
// least k standard deviations; super-weights) with their importance and their reconstruction under
// the run's parameters and under Min-Max, in a table sortable by magnitude, by importance and by
// error; by default only the weights the run's parameters clip. The figures come from
// core/analysis/outliers.h (outlier_table) on a BackgroundTask; a change of layer or k while one
// runs restarts it when it ends.
#pragma once

#include <QMetaType>
#include <QWidget>

#include <memory>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSortFilterProxyModel;
class QTableView;
class BackgroundTask;
class LayerTableModel;
class OutlierTableModel;

using OutlierTablePtr = std::shared_ptr<const zp::analysis::OutlierTable>;
Q_DECLARE_METATYPE(OutlierTablePtr)

class OutliersView : public QWidget {
    Q_OBJECT
public:
    explicit OutliersView(QWidget* parent = nullptr);

    // The layer results come from the overview's table (its LayerResult::engine).
    void setModel(ModelPtr model, const LayerTableModel* results);
    void setLayer(int layer);
    int layer() const { return layer_; }
    double threshold() const;
    void setThreshold(double k);
    void setClippedOnly(bool on);
    // Recomputes the current layer (after a job finished or results changed).
    void refresh();
    bool isComputing() const;
    // The last table computed (null before any), and the layer it belongs to.
    OutlierTablePtr table() const { return table_; }
    int tableLayer() const { return tableLayer_; }
    OutlierTableModel* tableModel() const { return model_rows_; }
    QSortFilterProxyModel* proxyModel() const { return proxy_; }
    QString summaryText() const;

Q_SIGNALS:
    void thresholdChanged(double k);
    void updated();  // a table for tableLayer() is shown

private:
    void compute();
    void showTable(const OutlierTablePtr& t, int layer);

    ModelPtr model_;
    const LayerTableModel* results_ = nullptr;
    BackgroundTask* task_ = nullptr;
    QComboBox* layerBox_ = nullptr;
    QDoubleSpinBox* k_ = nullptr;
    QCheckBox* clippedOnly_ = nullptr;
    QLabel* summary_ = nullptr;
    QTableView* view_ = nullptr;
    OutlierTableModel* model_rows_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    OutlierTablePtr table_;
    int layer_ = -1, tableLayer_ = -1, computedLayer_ = -1;
    bool pending_ = false;
};
