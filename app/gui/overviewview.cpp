#include "app/gui/overviewview.h"

#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "app/gui/activationdata.h"
#include "app/gui/layertablemodel.h"
#include "app/gui/plots/layerheatmapplot.h"
#include "app/gui/plots/layerlossbarplot.h"

OverviewView::OverviewView(QWidget* parent) : QWidget(parent)
{
    table_ = new LayerTableModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(table_);
    proxy_->setSortRole(LayerTableModel::SortRole);
    proxy_->setFilterKeyColumn(LayerTableModel::Name);
    proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("layerTable"));
    view_->setModel(proxy_);
    view_->setSortingEnabled(true);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setSelectionMode(QAbstractItemView::SingleSelection);
    view_->verticalHeader()->setVisible(false);
    view_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    view_->horizontalHeader()->setStretchLastSection(true);
    view_->setAlternatingRowColors(true);
    view_->sortByColumn(-1, Qt::AscendingOrder);
    auto activate = [this](const QModelIndex& i) {
        if (!i.isValid())
            return;
        const QModelIndex source = proxy_->mapToSource(i);
        if (source.column() == LayerTableModel::Clipped &&
            table_->result(source.row()).clippedBeyond(table_->outlierThreshold()) > 0)
            Q_EMIT outliersActivated(source.row());
        else
            Q_EMIT layerActivated(source.row());
    };
    connect(view_, &QTableView::clicked, this, activate);
    connect(view_, &QTableView::activated, this, activate);
    filter_ = new QLineEdit(this);
    filter_->setPlaceholderText(tr("Filter layers (e.g. down_proj, block 3)"));
    filter_->setClearButtonEnabled(true);
    filter_->setToolTip(tr("Show only the layers whose name contains this text"));
    connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);

    heatmap_ = new LayerHeatmapPlot(this);
    bars_ = new LayerLossBarPlot(this);
    actHeatmap_ = new LayerHeatmapPlot(tr("Activation error per linear input"),
                                       tr("error with / without the transform"), this);
    actHeatmap_->setObjectName(QStringLiteral("activationHeatmap"));
    actHeatmap_->setToolTip(
        tr("Relative error ||fq(x Q) Q^-1 - x|| / ||x|| of each group's per-token activation "
           "quantizer on the calibration tokens (the number), coloured by its ratio to the "
           "error without the transform"));
    actHeatmap_->hide();
    connect(heatmap_, &LayerHeatmapPlot::cellClicked, this, [this](int block, int type) {
        if (model_) {
            int i = model_->layerIndex(block, type);
            if (i >= 0)
                Q_EMIT layerActivated(i);
        }
    });
    connect(bars_, &LayerLossBarPlot::layerClicked, this, [this](int i) {
        if (model_ && i < static_cast<int>(model_->layers().size()))
            Q_EMIT layerActivated(i);
    });

    auto* plots = new QSplitter(Qt::Horizontal, this);
    plotSplit_ = plots;
    plots->addWidget(heatmap_);
    plots->addWidget(actHeatmap_);
    plots->addWidget(bars_);
    plots->setStretchFactor(0, 2);
    plots->setStretchFactor(1, 2);
    plots->setStretchFactor(2, 3);
    auto* tableBox = new QWidget(this);
    auto* tl = new QVBoxLayout(tableBox);
    tl->setContentsMargins(0, 0, 0, 0);
    outlierNote_ = new QLabel(this);
    outlierNote_->setObjectName(QStringLiteral("outlierNote"));
    outlierNote_->setWordWrap(true);
    outlierNote_->setStyleSheet(
        QStringLiteral("QLabel { background: #fdecd2; color: #6b3000; border: 1px solid #e8b878; "
                       "padding: 3px; }"));
    outlierNote_->hide();
    tl->addWidget(filter_);
    tl->addWidget(outlierNote_);
    tl->addWidget(view_);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(plots);
    split->addWidget(tableBox);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);
}

QList<PlotView*> OverviewView::plots() const
{
    return {heatmap_, bars_, actHeatmap_};
}

bool OverviewView::hasActivationErrors() const
{
    return !actHeatmap_->isHidden();
}

void OverviewView::setActivationErrors(const QuantizedModelPtr& qm)
{
    if (!qm || qm->transforms.empty()) {
        actHeatmap_->hide();
        actHeatmap_->clearPlot();
        return;
    }
    const QStringList groups = activationGroups();
    int blocks = model_ ? model_->blockCount() : 0;
    for (const zp::quant::GroupTransform* t : qm->transforms.all())
        blocks = std::max(blocks, static_cast<int>(t->block) + 1);
    const size_t n = static_cast<size_t>(blocks) * groups.size();
    std::vector<double> ratio(n, NAN);
    QStringList labels, details;
    for (size_t i = 0; i < n; ++i) {
        labels << QString();
        details << QString();
    }
    QString kind;
    for (const zp::quant::GroupTransform* t : qm->transforms.all()) {
        const int g = static_cast<int>(groups.indexOf(QString::fromStdString(t->input)));
        if (g < 0 || t->block < 0)
            continue;
        const size_t cell = static_cast<size_t>(t->block) * groups.size() + g;
        ratio[cell] = t->act_error_plain > 0 ? t->act_error / t->act_error_plain : 1.0;
        labels[static_cast<int>(cell)] =
            QStringLiteral("%1\n×%2").arg(t->act_error, 0, 'f', 4).arg(ratio[cell], 0, 'f', 2);
        details[static_cast<int>(cell)] =
            tr("error %1 with %2, %3 without (%4 tokens)")
                .arg(t->act_error, 0, 'g', 4)
                .arg(QString::fromUtf8(zp::quant::transform_kind_info(t->kind).label))
                .arg(t->act_error_plain, 0, 'g', 4)
                .arg(t->tokens);
        kind = QString::fromUtf8(zp::quant::transform_kind_info(t->kind).label);
    }
    actHeatmap_->setData(groups, blocks, ratio, tr("error with / without %1").arg(kind), labels,
                         details);
    if (actHeatmap_->isHidden()) {
        actHeatmap_->show();
        // Seven weight columns, four activation groups, the bars.
        const int w = std::max(600, plotSplit_->width());
        plotSplit_->setSizes({w * 7 / 17, w * 4 / 17, w * 6 / 17});
    }
}

void OverviewView::setOutlierThreshold(double k)
{
    table_->setOutlierThreshold(k);
    redraw();
}

QString OverviewView::outlierNote() const
{
    return outlierNote_->isHidden() ? QString() : outlierNote_->text();
}

void OverviewView::setModel(ModelPtr model)
{
    model_ = std::move(model);
    table_->setModel(model_);
    redraw();
}

void OverviewView::setResult(const LayerResult& r)
{
    table_->setResult(r);
    // Coalesce redraws: many layers may finish between two paints.
    if (!redrawPending_) {
        redrawPending_ = true;
        QTimer::singleShot(50, this, [this] {
            redrawPending_ = false;
            redraw();
        });
    }
}

void OverviewView::clearResults()
{
    table_->clearResults();
    redraw();
}

void OverviewView::redraw()
{
    const int flagged = table_->flaggedCount();
    outlierNote_->setVisible(flagged > 0);
    if (flagged > 0)
        outlierNote_->setText(
            tr("\u26a0 %n layer(s) clip a weight at least %1 standard deviations out (a "
               "super-weight reconstructed more than half a step off): see the Clipped column "
               "and the Outliers tab.",
               "", flagged)
                .arg(table_->outlierThreshold()));
    if (!model_ || table_->resultCount() == 0) {
        heatmap_->clearPlot(tr("Run a job to see which layers gain most"));
        bars_->clearPlot(tr("Run a job to see the losses"));
        return;
    }
    const auto& layers = model_->layers();
    const int types = static_cast<int>(model_->layerTypes().size());
    std::vector<double> cells(static_cast<size_t>(model_->blockCount()) * types, NAN);
    std::vector<double> method(layers.size(), NAN), minmax(layers.size(), NAN);
    QStringList names;
    QString methodName;
    int outputError = 0, done = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        names << QStringLiteral("%1.%2").arg(layers[i].block).arg(layers[i].type);
        const LayerResult& r = table_->result(static_cast<int>(i));
        if (!r.valid())
            continue;
        cells[static_cast<size_t>(layers[i].block) * types + layers[i].typeIndex] = r.ratio();
        method[i] = r.loss();
        minmax[i] = r.lossMinMax();
        outputError += r.comparesOutputError() ? 1 : 0;
        done += 1;
        methodName = r.settings.label();
    }
    heatmap_->setData(model_->layerTypes(), model_->blockCount(), cells, tr("loss / Min-Max"));
    // GPTQ layers are compared on the output error on the calibration data (LayerResult::loss).
    const QString label = outputError == 0 ? tr("loss (diag, sum over rows)")
                          : outputError == done
                              ? tr("output loss on the calibration data (vs RTN Min-Max)")
                              : tr("loss (output loss for GPTQ layers, diag for RTN)");
    bars_->setData(names, method, minmax, methodName, label);
}
