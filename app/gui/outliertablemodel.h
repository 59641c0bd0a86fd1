// The Outliers tab's table: one row per weight of a layer at least k standard deviations out
// (analysis::OutlierTable), with its importance and its reconstruction under the run's parameters
// and under Min-Max. SortRole holds the raw numbers (errors by magnitude).
#pragma once

#include <QAbstractTableModel>

#include <memory>
#include <vector>

#include "core/analysis/outliers.h"

class OutlierTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        Row,
        Col,
        Value,
        Sigmas,
        Importance,
        Reconstructed,
        Error,
        MinMaxReconstructed,
        MinMaxError,
        ColumnCount
    };
    static constexpr int SortRole = Qt::UserRole;

    explicit OutlierTableModel(QObject* parent = nullptr);

    // The weights of t (all of them, or only those the run's parameters clip); method: the run's
    // parameter rule for the headers ("NeUQI").
    void setTable(std::shared_ptr<const zp::analysis::OutlierTable> t, bool clippedOnly,
                  const QString& method);
    void clear();
    const zp::analysis::OutlierWeight& weight(int row) const { return *rows_.at(row); }

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    int columnCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    std::shared_ptr<const zp::analysis::OutlierTable> table_;
    std::vector<const zp::analysis::OutlierWeight*> rows_;
    QString method_;
};
