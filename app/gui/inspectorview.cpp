#include "app/gui/inspectorview.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSpinBox>
#include <QVBoxLayout>

#include "app/gui/colors.h"
#include "app/gui/plots/histogramplot.h"
#include "app/gui/plots/importanceplot.h"
#include "app/gui/plots/lossgridplot.h"
#include "app/gui/plots/rowerrorplot.h"
#include "app/gui/plots/scalelandscapeplot.h"
#include "app/gui/plots/zcurveplot.h"
#include "app/gui/recomputethread.h"

InspectorView::InspectorView(QWidget* parent) : QWidget(parent)
{
    qRegisterMetaType<InspectorData>();
    auto* top = new QHBoxLayout;
    layerBox_ = new QComboBox(this);
    layerBox_->setObjectName(QStringLiteral("inspectorLayer"));
    layerBox_->setToolTip(
        tr("The layer to inspect (or click a layer in the browser, table or heatmap)"));
    layerBox_->setMinimumContentsLength(18);
    rowBox_ = new QSpinBox(this);
    rowBox_->setObjectName(QStringLiteral("inspectorRow"));
    rowBox_->setToolTip(tr("Output row (or click a point in plot (e))"));
    groupBox_ = new QSpinBox(this);
    groupBox_->setObjectName(QStringLiteral("inspectorGroup"));
    groupBox_->setToolTip(tr("Group of input columns within the row"));
    summary_ = new QLabel(tr("Choose a layer in the model browser."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    top->addWidget(new QLabel(tr("Layer"), this));
    top->addWidget(layerBox_);
    top->addWidget(new QLabel(tr("Row"), this));
    top->addWidget(rowBox_);
    top->addWidget(new QLabel(tr("Group"), this));
    top->addWidget(groupBox_);
    top->addWidget(summary_, 1);

    histogram_ = new HistogramPlot(this);
    zcurve_ = new ZCurvePlot(this);
    landscape_ = new ScaleLandscapePlot(this);
    importance_ = new ImportancePlot(this);
    rowError_ = new RowErrorPlot(this);
    lossGrid_ = new LossGridPlot(this);
    auto* grid = new QGridLayout;
    grid->addWidget(histogram_, 0, 0);
    grid->addWidget(zcurve_, 0, 1);
    grid->addWidget(landscape_, 0, 2);
    grid->addWidget(importance_, 1, 0);
    grid->addWidget(rowError_, 1, 1);
    grid->addWidget(lossGrid_, 1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addLayout(grid, 1);

    thread_ = new RecomputeThread(this);
    connect(thread_, &RecomputeThread::computed, this, [this](const QVariant& v) {
        if (v.isValid())  // invalid: the no-op that replaced work for a previous model
            show(v.value<InspectorData>());
    });
    connect(thread_, &RecomputeThread::failed, this, [this](const QString& m) {
        summary_->setText(tr("<span style='color:#b00020'>Could not analyse this group: %1</span>")
                              .arg(m.toHtmlEscaped()));
        Q_EMIT failed(m);
    });
    connect(layerBox_, &QComboBox::currentIndexChanged, this, [this] { request(); });
    connect(rowBox_, &QSpinBox::valueChanged, this, [this] { request(); });
    connect(groupBox_, &QSpinBox::valueChanged, this, [this] { request(); });
    connect(rowError_, &RowErrorPlot::rowClicked, this,
            [this](int row) { rowBox_->setValue(row); });
}

QList<PlotView*> InspectorView::plots() const
{
    return {histogram_, zcurve_, landscape_, importance_, rowError_, lossGrid_};
}

void InspectorView::setModel(ModelPtr model)
{
    model_ = std::move(model);
    results_.assign(model_ ? model_->layers().size() : 0, LayerResult());
    data_ = InspectorData();
    updating_ = true;
    layerBox_->clear();
    if (model_)
        for (const LayerInfo& l : model_->layers())
            layerBox_->addItem(QStringLiteral("%1  (%2x%3)").arg(l.name).arg(l.rows).arg(l.cols));
    layerBox_->setCurrentIndex(-1);
    updating_ = false;
    for (PlotView* p : plots())
        p->clearPlot(tr("Choose a layer"));
    summary_->setText(tr("Choose a layer in the model browser."));
    // Anything still computing belongs to the previous model: replace it with a no-op.
    thread_->request([](const std::function<bool()>&) { return QVariant(); });
}

void InspectorView::setResult(const LayerResult& r)
{
    if (r.layer >= 0 && r.layer < static_cast<int>(results_.size()))
        results_[r.layer] = r;
    if (r.layer == currentLayer())
        request();
}

void InspectorView::clearResults()
{
    std::fill(results_.begin(), results_.end(), LayerResult());
}

void InspectorView::setFallbackSettings(const JobSettings& s)
{
    fallback_ = s;
}

int InspectorView::currentLayer() const
{
    return layerBox_->currentIndex();
}

bool InspectorView::isComputing() const
{
    return thread_->isBusy();
}

void InspectorView::inspect(int layer, int row, int group)
{
    if (!model_ || layer < 0 || layer >= static_cast<int>(model_->layers().size()))
        return;
    updating_ = true;
    layerBox_->setCurrentIndex(layer);
    if (row >= 0)
        rowBox_->setValue(row);
    if (group >= 0)
        groupBox_->setValue(group);
    updating_ = false;
    request();
}

void InspectorView::request()
{
    if (updating_ || !model_ || currentLayer() < 0)
        return;
    InspectorRequest q;
    q.model = model_;
    q.layer = currentLayer();
    q.row = rowBox_->value();
    q.group = groupBox_->value();
    q.settings = fallback_;
    q.result = results_[q.layer];
    const LayerInfo& l = model_->layers()[q.layer];
    const JobSettings& s = q.result.valid() ? q.result.settings : fallback_;
    const int64_t g = s.groupSize < 0 ? l.cols : s.groupSize;
    updating_ = true;
    rowBox_->setRange(0, static_cast<int>(l.rows) - 1);
    groupBox_->setRange(0, g > 0 ? static_cast<int>((l.cols + g - 1) / g) - 1 : 0);
    updating_ = false;
    q.row = rowBox_->value();
    q.group = groupBox_->value();
    summary_->setText(tr("Analysing %1, row %2, group %3…").arg(l.name).arg(q.row).arg(q.group));
    thread_->request([q](const std::function<bool()>& wanted) {
        return QVariant::fromValue(computeInspector(q, wanted));
    });
}

void InspectorView::show(const InspectorData& d)
{
    data_ = d;
    const auto& L = d.landscape;
    const QString method = d.settings.label();
    std::vector<LevelSet> levels;
    const int n = 1 << d.bits;
    LevelSet mm{tr("Min-Max levels"), colors::minMax(), {}},
        nq{tr("NeUQI levels"), colors::neuqi(), {}};
    for (int j = 0; j < n; ++j) {
        mm.levels.push_back(d.minmaxScale * (j - d.minmaxZero));
        nq.levels.push_back(L.chosen_scale * (j - L.chosen_zero));
    }
    levels.push_back(mm);
    levels.push_back(nq);
    if (d.jobLoss >= 0 &&
        (d.settings.method == zp::quant::Method::NeUQIInt || d.settings.isGptq())) {
        LevelSet ji{tr("%1 levels (job)").arg(method), colors::neuqiInt(), {}};
        for (int j = 0; j < n; ++j)
            ji.levels.push_back(d.jobScale * (j - d.jobZero));
        levels.push_back(ji);
    }
    histogram_->setData(d.w, levels);
    zcurve_->setData(d.zcurve,
                     {{tr("Min-Max z"), colors::minMax(), d.minmaxZero, d.minmaxZeroLossAtChosen}});

    ScaleCurve sc;
    sc.s0 = L.s0;
    sc.scale = L.scale;
    sc.loss = L.loss;
    for (int i : L.coarse) {
        sc.coarseScale.push_back(L.s0 * i / L.grid);
        sc.coarseLoss.push_back(L.loss[i - 1]);
    }
    for (size_t k = 0; k < L.fine.size(); ++k) {
        sc.fineScale.push_back(L.s0 * L.fine[k] / L.grid);
        sc.fineLoss.push_back(L.fine_loss[k]);
    }
    sc.markers.push_back({tr("chosen s (NeUQI)"), colors::neuqi(), L.chosen_scale, L.chosen_loss});
    sc.markers.push_back({tr("s0 with best z"), QColor(90, 90, 90), L.s0, L.loss.back()});
    sc.markers.push_back(
        {tr("Min-Max (s0, integer z)"), colors::minMax(), d.minmaxScale, d.minmaxLoss});
    landscape_->setData(sc);
    importance_->setData(d.importance, d.groupSize, d.group);
    rowError_->setData(d.rowMinMax, d.rowMethod, d.rowMethodName, d.row);
    lossGrid_->setData(d.grid, L.s0,
                       {{tr("NeUQI (s, z*)"), colors::neuqi(), L.chosen_scale, L.chosen_zero},
                        {tr("Min-Max (s0, z)"), colors::minMax(), d.minmaxScale, d.minmaxZero}});
    const double ratio = d.minmaxLoss > 0 ? L.chosen_loss / d.minmaxLoss : 1.0;
    QString jobText;
    if (d.jobLoss >= 0)
        jobText = tr(" Job (%1): s = %2, z = %3, L = %4.")
                      .arg(method)
                      .arg(d.jobScale, 0, 'g', 4)
                      .arg(d.jobZero, 0, 'f', 3)
                      .arg(d.jobLoss, 0, 'g', 4);
    summary_->setText(
        tr("<b>%1</b>, row %2, group %3 of %4 (%5 columns, %6 bits). Min-Max: s0 = %7, z = %8, "
           "L = %9. NeUQI: s = %10 (%11 s0), z* = %12, L = %13 (<b>%14x</b> Min-Max).%15")
            .arg(d.layerName)
            .arg(d.row)
            .arg(d.group)
            .arg(d.groups)
            .arg(d.groupSize)
            .arg(d.bits)
            .arg(d.minmaxScale, 0, 'g', 4)
            .arg(d.minmaxZero, 0, 'f', 0)
            .arg(d.minmaxLoss, 0, 'g', 4)
            .arg(L.chosen_scale, 0, 'g', 4)
            .arg(L.chosen_scale / L.s0, 0, 'f', 3)
            .arg(L.chosen_zero, 0, 'f', 3)
            .arg(L.chosen_loss, 0, 'g', 4)
            .arg(ratio, 0, 'f', 3)
            .arg(jobText));
    Q_EMIT updated();
}
