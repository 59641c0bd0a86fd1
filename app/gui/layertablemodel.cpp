#include "app/gui/layertablemodel.h"

#include <QColor>

#include <algorithm>
#include <cmath>

#include "app/gui/colors.h"

LayerTableModel::LayerTableModel(QObject* parent) : QAbstractTableModel(parent)
{
}

void LayerTableModel::setModel(ModelPtr model)
{
    beginResetModel();
    model_ = std::move(model);
    results_.assign(model_ ? model_->layers().size() : 0, LayerResult());
    endResetModel();
}

void LayerTableModel::setResult(const LayerResult& r)
{
    if (r.layer < 0 || r.layer >= static_cast<int>(results_.size()))
        return;
    results_[r.layer] = r;
    Q_EMIT dataChanged(index(r.layer, 0), index(r.layer, ColumnCount - 1));
}

void LayerTableModel::clearResults()
{
    if (results_.empty())
        return;
    std::fill(results_.begin(), results_.end(), LayerResult());
    Q_EMIT dataChanged(index(0, 0), index(static_cast<int>(results_.size()) - 1, ColumnCount - 1));
}

int LayerTableModel::resultCount() const
{
    int n = 0;
    for (const LayerResult& r : results_)
        n += r.valid();
    return n;
}

void LayerTableModel::setOutlierThreshold(double k)
{
    k_ = std::max(k, LayerResult::kClippedFloor);
    if (!results_.empty())
        Q_EMIT dataChanged(index(0, Clipped),
                           index(static_cast<int>(results_.size()) - 1, Clipped));
}

int LayerTableModel::flaggedCount() const
{
    int n = 0;
    for (const LayerResult& r : results_)
        n += r.valid() && r.clippedBeyond(k_) > 0;
    return n;
}

int LayerTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(results_.size());
}

int LayerTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LayerTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || !model_ || index.row() >= rowCount() || index.column() >= ColumnCount)
        return QVariant();
    const LayerInfo& l = model_->layers()[index.row()];
    const LayerResult& r = results_[index.row()];
    const bool done = r.valid();
    if (role == Qt::DisplayRole || role == SortRole) {
        const bool sort = role == SortRole;
        switch (index.column()) {
            case Name:
                return l.name;
            case Block:
                return l.block;
            case Type:
                return l.type;
            case Shape:
                return sort ? QVariant(static_cast<qlonglong>(l.rows * l.cols))
                            : QStringLiteral("%1 x %2").arg(l.rows).arg(l.cols);
            case Bits:
                return done ? QVariant(r.settings.bits) : QVariant();
            case Group:
                if (!done)
                    return QVariant();
                return sort ? QVariant(static_cast<qlonglong>(r.groupSize))
                            : (r.settings.groupSize < 0 ? tr("row") : QString::number(r.groupSize));
            case Method:
                return done ? r.settings.label() : QVariant();
            case Loss:
                return done ? (sort ? QVariant(r.loss()) : QString::number(r.loss(), 'g', 4))
                            : QVariant();
            case MinMaxLoss:
                return done ? (sort ? QVariant(r.lossMinMax())
                                    : QString::number(r.lossMinMax(), 'g', 4))
                            : QVariant();
            case Ratio:
                return done ? (sort ? QVariant(r.ratio()) : QString::number(r.ratio(), 'f', 3))
                            : QVariant();
            case Time:
                return done ? (sort ? QVariant(r.seconds)
                                    : QString::number(r.seconds * 1000.0, 'f', 0))
                            : QVariant();
            case Clipped: {
                if (!done || !r.clippedKnown)
                    return QVariant();
                const int n = r.clippedBeyond(k_);
                return sort ? QVariant(n)
                            : (n > 0 ? QStringLiteral("\u26a0 %1").arg(n) : QStringLiteral("0"));
            }
        }
    }
    if (role == Qt::BackgroundRole && index.column() == Ratio && done)
        return colors::ratio(r.ratio());
    if (role == Qt::BackgroundRole && index.column() == Clipped && done && r.clippedBeyond(k_) > 0)
        return QColor(0xFD, 0xD8, 0xA8);
    if (role == Qt::ForegroundRole && index.column() == Clipped && done && r.clippedBeyond(k_) > 0)
        return QColor(0x7a, 0x30, 0x00);
    if (role == Qt::ForegroundRole && index.column() == Ratio && done)
        return QColor(20, 20, 20);
    if (role == Qt::TextAlignmentRole && index.column() == Clipped)
        return int(Qt::AlignLeft | Qt::AlignVCenter);  // the last, stretched column
    if (role == Qt::TextAlignmentRole && index.column() >= Bits && index.column() != Method)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole) {
        if (!done)
            return tr("%1: not quantized yet").arg(l.name);
        if (index.column() == Clipped) {
            if (!r.clippedKnown)
                return tr("%1: the weights are not available, so clipping is not known")
                    .arg(l.name);
            const int n = r.clippedBeyond(k_);
            if (n == 0)
                return tr("%1: no weight at least %2 standard deviations out is clipped (every "
                          "one is reconstructed within half a step)")
                    .arg(l.name)
                    .arg(k_);
            const zp::analysis::ClippedWeight& c = r.worstClipped;
            return tr("%1: %n weight(s) at least %2 standard deviations out clipped by these "
                      "parameters. The worst: W[%3, %4] = %5 (%6 sd) is reconstructed as %7, "
                      "%8 steps off. See the Outliers tab.",
                      "", n)
                .arg(l.name)
                .arg(k_)
                .arg(c.row)
                .arg(c.col)
                .arg(c.value, 0, 'g', 4)
                .arg(c.sigmas, 0, 'f', 1)
                .arg(c.reconstructed, 0, 'g', 4)
                .arg(c.step > 0 ? std::abs(c.reconstructed - c.value) / c.step : 0.0, 0, 'f', 1);
        }
        // One pass of multi-argument arg(): the layer's description may itself contain '%'.
        const QString head = tr("%1 (%2 x %3), %4")
                                 .arg(l.name, QString::number(l.rows), QString::number(l.cols),
                                      r.settings.describe());
        const QString loss = QString::number(r.loss(), 'g', 5),
                      minmax = QString::number(r.lossMinMax(), 'g', 5),
                      ratio = QString::number(r.ratio(), 'f', 4);
        if (r.comparesOutputError())
            return tr("%1: output loss on the calibration data (GPTQ's objective) %2 vs RTN "
                      "Min-Max %3, ratio %4; weight error under h (diag loss) %5 vs Min-Max %6. "
                      "Double-click to inspect.")
                .arg(head, loss, minmax, ratio, QString::number(r.diagLoss, 'g', 5),
                     QString::number(r.diagLossMinMax, 'g', 5));
        return tr("%1: loss %2 vs Min-Max %3, ratio %4. Double-click to inspect.")
            .arg(head, loss, minmax, ratio);
    }
    return QVariant();
}

QVariant LayerTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QAbstractTableModel::headerData(section, orientation, role);
    static const char* names[] = {"Layer",        "Block", "Type",      "Shape",
                                  "Bits",         "Group", "Method",    "Loss",
                                  "Min-Max loss", "Ratio", "Time (ms)", "Clipped"};
    static const char* tips[] = {"Layer name",
                                 "Decoder block",
                                 "Linear layer type",
                                 "Output x input features",
                                 "Bits per weight",
                                 "Columns per group (row = channel-wise)",
                                 "Quantization method",
                                 "Importance-weighted squared error, summed over rows (diag loss); "
                                 "for GPTQ layers the output error on the calibration data, "
                                 "tr(dW H dW^T), which is what GPTQ lowers",
                                 "The same for Min-Max on the same weights (RTN Min-Max for GPTQ "
                                 "layers)",
                                 "Loss / Min-Max loss: below 1 = better than Min-Max",
                                 "Time spent on the layer",
                                 "Weights far out (at least k standard deviations of the layer) "
                                 "that these parameters clip: reconstructed more than half a "
                                 "step off. k is set on the Outliers tab"};
    if (role == Qt::DisplayRole)
        return tr(names[section]);
    if (role == Qt::ToolTipRole)
        return tr(tips[section]);
    return QVariant();
}
