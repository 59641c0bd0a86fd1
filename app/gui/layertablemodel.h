// One row per linear layer of the model, with the job's figures once they arrive. Qt::UserRole
// holds the raw value of each cell (numbers for sorting); the ratio column is coloured. The
// "Clipped" column flags the layers whose parameters clip a weight at least k standard deviations
// out (a super-weight), its tooltip naming how many and the worst one.
#pragma once

#include <QAbstractTableModel>

#include <vector>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class LayerTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        Name,
        Block,
        Type,
        Shape,
        Bits,
        Group,
        Method,
        Loss,
        MinMaxLoss,
        Ratio,
        Time,
        Clipped,
        ColumnCount
    };
    static constexpr int SortRole = Qt::UserRole;

    explicit LayerTableModel(QObject* parent = nullptr);

    void setModel(ModelPtr model);
    void setResult(const LayerResult& r);
    void clearResults();
    const LayerResult& result(int layer) const { return results_.at(static_cast<size_t>(layer)); }
    int resultCount() const;
    // The flag's threshold k in standard deviations (>= LayerResult::kClippedFloor; default 10).
    void setOutlierThreshold(double k);
    double outlierThreshold() const { return k_; }
    // Layers with at least one clipped weight beyond k.
    int flaggedCount() const;

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    int columnCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    ModelPtr model_;
    std::vector<LayerResult> results_;
    double k_ = 10.0;
};
