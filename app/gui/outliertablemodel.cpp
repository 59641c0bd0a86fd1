#include "app/gui/outliertablemodel.h"

#include <QColor>

#include <cmath>

OutlierTableModel::OutlierTableModel(QObject* parent) : QAbstractTableModel(parent)
{
}

void OutlierTableModel::setTable(std::shared_ptr<const zp::analysis::OutlierTable> t,
                                 bool clippedOnly, const QString& method)
{
    beginResetModel();
    table_ = std::move(t);
    method_ = method;
    rows_.clear();
    if (table_)
        for (const zp::analysis::OutlierWeight& o : table_->outliers)
            if (!clippedOnly || o.clipped)
                rows_.push_back(&o);
    endResetModel();
    Q_EMIT headerDataChanged(Qt::Horizontal, 0, ColumnCount - 1);
}

void OutlierTableModel::clear()
{
    setTable(nullptr, false, method_);
}

int OutlierTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int OutlierTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant OutlierTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount)
        return QVariant();
    const zp::analysis::OutlierWeight& o = *rows_[static_cast<size_t>(index.row())];
    const double err = o.reconstructed - o.value;
    const double errMm = o.reconstructed_minmax - o.value;
    // An error as a number and in steps of its group's scale.
    auto errorText = [](double e, double step) {
        return QStringLiteral("%1 (%2 steps)")
            .arg(e, 0, 'g', 4)
            .arg(step > 0 ? std::abs(e) / step : 0.0, 0, 'f', 2);
    };
    if (role == SortRole) {
        switch (index.column()) {
            case Row:
                return static_cast<qlonglong>(o.row);
            case Col:
                return static_cast<qlonglong>(o.col);
            case Value:
                return std::abs(o.value);
            case Sigmas:
                return o.sigmas;
            case Importance:
                return o.importance;
            case Reconstructed:
                return o.reconstructed;
            case Error:
                return std::abs(err);
            case MinMaxReconstructed:
                return o.reconstructed_minmax;
            case MinMaxError:
                return std::abs(errMm);
        }
    }
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
            case Row:
                return static_cast<qlonglong>(o.row);
            case Col:
                return static_cast<qlonglong>(o.col);
            case Value:
                return QString::number(o.value, 'g', 5);
            case Sigmas:
                return QString::number(o.sigmas, 'f', 1);
            case Importance:
                return QString::number(o.importance, 'g', 4);
            case Reconstructed:
                return QString::number(o.reconstructed, 'g', 5);
            case Error:
                return errorText(err, o.step);
            case MinMaxReconstructed:
                return QString::number(o.reconstructed_minmax, 'g', 5);
            case MinMaxError:
                return errorText(errMm, o.step_minmax);
        }
    }
    if (role == Qt::BackgroundRole) {
        if ((index.column() == Error || index.column() == Reconstructed) && o.clipped)
            return QColor(0xF8, 0xC9, 0xC4);
        if ((index.column() == MinMaxError || index.column() == MinMaxReconstructed) &&
            o.clipped_minmax)
            return QColor(0xF8, 0xC9, 0xC4);
    }
    if (role == Qt::ForegroundRole && index.column() >= Reconstructed)
        return QColor(20, 20, 20);
    if (role == Qt::TextAlignmentRole)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole)
        return tr("W[%1, %2] = %3, %4 standard deviations out, importance h = %5.\n"
                  "%6: reconstructed as %7 (step %8)%9.\nMin-Max: reconstructed as %10 (step "
                  "%11)%12.")
            .arg(o.row)
            .arg(o.col)
            .arg(o.value, 0, 'g', 6)
            .arg(o.sigmas, 0, 'f', 1)
            .arg(o.importance, 0, 'g', 4)
            .arg(method_)
            .arg(o.reconstructed, 0, 'g', 6)
            .arg(o.step, 0, 'g', 4)
            .arg(o.clipped ? tr(": clipped") : QString())
            .arg(o.reconstructed_minmax, 0, 'g', 6)
            .arg(o.step_minmax, 0, 'g', 4)
            .arg(o.clipped_minmax ? tr(": clipped") : QString());
    return QVariant();
}

QVariant OutlierTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QAbstractTableModel::headerData(section, orientation, role);
    const QString m = method_.isEmpty() ? tr("Run") : method_;
    if (role == Qt::DisplayRole) {
        switch (section) {
            case Row:
                return tr("Row");
            case Col:
                return tr("Column");
            case Value:
                return tr("W");
            case Sigmas:
                return tr("sd out");
            case Importance:
                return tr("Importance h");
            case Reconstructed:
                return tr("%1 W\u0302").arg(m);
            case Error:
                return tr("%1 error").arg(m);
            case MinMaxReconstructed:
                return tr("Min-Max W\u0302");
            case MinMaxError:
                return tr("Min-Max error");
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
            case Row:
                return tr("Output feature");
            case Col:
                return tr("Input feature");
            case Value:
                return tr("The original weight (sorts by magnitude)");
            case Sigmas:
                return tr("|W - mean| / sd over the whole layer");
            case Importance:
                return tr(
                    "The column's importance h: the damped Hessian diagonal of the "
                    "calibration activations (1 when data-free)");
            case Reconstructed:
                return tr("The weight as the run's parameters reconstruct it");
            case Error:
            case MinMaxError:
                return tr(
                    "W\u0302 - W, and in steps of the group's scale (sorts by magnitude); "
                    "red: more than half a step, i.e. clipped");
            case MinMaxReconstructed:
                return tr(
                    "The weight as RTN Min-Max (clip 1) at the same bits and groups "
                    "reconstructs it");
        }
    }
    return QVariant();
}
