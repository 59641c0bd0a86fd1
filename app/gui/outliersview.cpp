#include "app/gui/outliersview.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSignalBlocker>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "app/gui/backgroundtask.h"
#include "app/gui/layertablemodel.h"
#include "app/gui/outliertablemodel.h"

OutliersView::OutliersView(QWidget* parent) : QWidget(parent)
{
    qRegisterMetaType<OutlierTablePtr>();
    task_ = new BackgroundTask(this);
    layerBox_ = new QComboBox(this);
    layerBox_->setObjectName(QStringLiteral("outlierLayer"));
    layerBox_->setToolTip(tr("The layer whose weights are listed"));
    layerBox_->setMinimumContentsLength(22);
    k_ = new QDoubleSpinBox(this);
    k_->setObjectName(QStringLiteral("outlierK"));
    k_->setRange(LayerResult::kClippedFloor, 1000.0);
    k_->setDecimals(1);
    k_->setSingleStep(1.0);
    k_->setValue(10.0);
    k_->setSuffix(tr(" sd"));
    k_->setToolTip(
        tr("k: list the weights at least k standard deviations (of the whole layer) "
           "from the layer's mean; the overview's Clipped flag uses the same k"));
    clippedOnly_ = new QCheckBox(tr("Only the weights the run's parameters clip"), this);
    clippedOnly_->setObjectName(QStringLiteral("outlierClippedOnly"));
    clippedOnly_->setChecked(true);
    clippedOnly_->setToolTip(
        tr("Clipped: reconstructed more than half a quantization step off, "
           "i.e. outside its group's grid"));
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("outlierSummary"));
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    summary_->setMinimumHeight(2 * summary_->fontMetrics().lineSpacing() + 4);
    model_rows_ = new OutlierTableModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_rows_);
    proxy_->setSortRole(OutlierTableModel::SortRole);
    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("outlierTable"));
    view_->setModel(proxy_);
    view_->setSortingEnabled(true);
    view_->sortByColumn(OutlierTableModel::Value, Qt::DescendingOrder);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->verticalHeader()->setVisible(false);
    view_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    view_->horizontalHeader()->setStretchLastSection(false);  // errors next to their W_hat
    view_->setAlternatingRowColors(true);

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Layer"), this));
    controls->addWidget(layerBox_);
    controls->addSpacing(12);
    controls->addWidget(new QLabel(tr("k"), this));
    controls->addWidget(k_);
    controls->addSpacing(12);
    controls->addWidget(clippedOnly_);
    controls->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(summary_);
    layout->addWidget(view_, 1);

    connect(layerBox_, &QComboBox::currentIndexChanged, this, [this](int i) {
        if (i != layer_) {
            layer_ = i;
            compute();
        }
    });
    connect(k_, &QDoubleSpinBox::valueChanged, this, [this](double k) {
        Q_EMIT thresholdChanged(k);
        compute();
    });
    connect(clippedOnly_, &QCheckBox::toggled, this, [this] { showTable(table_, tableLayer_); });
    connect(task_, &BackgroundTask::finished, this, [this](const QVariant& v) {
        // A layer or k chosen meanwhile: that table, not this stale one.
        if (pending_) {
            pending_ = false;
            compute();
            return;
        }
        showTable(v.value<OutlierTablePtr>(), computedLayer_);
    });
    connect(task_, &BackgroundTask::failed, this, [this](const QString& e) {
        summary_->setText(tr("Could not compute the outliers: %1").arg(e));
        if (pending_) {
            pending_ = false;
            compute();
        }
    });
    summary_->setText(
        tr("Run a job: this tab lists the weights far out of each layer's "
           "distribution that the run's parameters clip."));
}

void OutliersView::setModel(ModelPtr model, const LayerTableModel* results)
{
    model_ = std::move(model);
    results_ = results;
    const QSignalBlocker block(layerBox_);
    layerBox_->clear();
    if (model_)
        for (const LayerInfo& l : model_->layers())
            layerBox_->addItem(l.name);
    layer_ = model_ && !model_->layers().empty() ? 0 : -1;
    layerBox_->setCurrentIndex(layer_);
    table_.reset();
    tableLayer_ = -1;
    model_rows_->clear();
    summary_->setText(
        tr("Run a job: this tab lists the weights far out of each layer's "
           "distribution that the run's parameters clip."));
}

void OutliersView::setLayer(int layer)
{
    if (!model_ || layer < 0 || layer >= layerBox_->count())
        return;
    layerBox_->setCurrentIndex(layer);  // computes when it changes
}

double OutliersView::threshold() const
{
    return k_->value();
}

void OutliersView::setThreshold(double k)
{
    k_->setValue(k);
}

void OutliersView::setClippedOnly(bool on)
{
    clippedOnly_->setChecked(on);
}

void OutliersView::refresh()
{
    compute();
}

bool OutliersView::isComputing() const
{
    return task_->isRunning();
}

QString OutliersView::summaryText() const
{
    return summary_->text();
}

void OutliersView::compute()
{
    if (!model_ || !results_ || layer_ < 0 || layer_ >= results_->rowCount())
        return;
    if (task_->isRunning()) {
        pending_ = true;
        return;
    }
    const LayerResult& r = results_->result(layer_);
    if (!r.valid() || !r.engine || !model_->hasWeights()) {
        table_.reset();
        tableLayer_ = -1;
        model_rows_->clear();
        summary_->setText(!r.valid()
                              ? tr("%1 is not quantized yet: run a job.")
                                    .arg(model_->layers()[static_cast<size_t>(layer_)].name)
                              : tr("The model's weights are not available, so the outliers of %1 "
                                   "cannot be listed.")
                                    .arg(model_->layers()[static_cast<size_t>(layer_)].name));
        return;
    }
    const ModelPtr model = model_;
    const std::shared_ptr<const zp::quant::LayerResult> engine = r.engine;
    const int layer = layer_;
    const double k = k_->value();
    computedLayer_ = layer;
    summary_->setText(
        tr("Computing the outliers of %1…").arg(model_->layers()[static_cast<size_t>(layer)].name));
    task_->start([model, engine, layer, k](const zp::ProgressFn&) {
        const at::Tensor W = model->weight(layer);
        return QVariant::fromValue(
            OutlierTablePtr(std::make_shared<const zp::analysis::OutlierTable>(
                zp::analysis::outlier_table(W, *engine, k))));
    });
}

void OutliersView::showTable(const OutlierTablePtr& t, int layer)
{
    table_ = t;
    tableLayer_ = t ? layer : -1;
    if (!t || !model_ || !results_ || layer < 0 || layer >= results_->rowCount()) {
        model_rows_->clear();
        return;
    }
    const LayerResult& r = results_->result(layer);
    const QString method = methodLabel(r.settings.method);
    model_rows_->setTable(t, clippedOnly_->isChecked(), method);
    const LayerInfo& l = model_->layers()[static_cast<size_t>(layer)];
    QString text =
        tr("<b>%1</b> (%2 x %3, %4): mean %5, sd %6. <b>%7</b> of its %8 weights lie at least "
           "%9 sd out; %10 clips <b>%11</b> of them, Min-Max %12.")
            .arg(l.name)
            .arg(l.rows)
            .arg(l.cols)
            .arg(r.settings.describe().toHtmlEscaped())
            .arg(t->mean, 0, 'g', 3)
            .arg(t->sd, 0, 'g', 3)
            .arg(t->outliers.size())
            .arg(t->weights)
            .arg(t->k)
            .arg(method)
            .arg(t->clipped)
            .arg(t->clipped_minmax);
    if (clippedOnly_->isChecked() && t->clipped == 0 && !t->outliers.empty())
        text += tr(" Clear \"only clipped\" to list them all.");
    summary_->setText(text);
    Q_EMIT updated();
}
