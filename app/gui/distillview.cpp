#include "app/gui/distillview.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>

#include <cmath>

#include "app/gui/plots/distilllossplot.h"
#include "app/gui/plots/layerheatmapplot.h"
#include "core/quant/result.h"

namespace {

QString emptyText()
{
    return DistillView::tr(
        "No distillation yet. After a weight-only quantization job (or with a session open), the "
        "Distill page of the Job panel trains the result's scales and zero-points against the "
        "original model, codes frozen (NeUQI's lightweight distillation).");
}

}  // namespace

DistillView::DistillView(QWidget* parent) : QWidget(parent)
{
    summary_ = new QLabel(emptyText(), this);
    summary_->setObjectName(QStringLiteral("distillSummary"));
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    kind_ = new QComboBox(this);
    kind_->setObjectName(QStringLiteral("distillMovementKind"));
    kind_->addItem(tr("scales: mean |s − s₀| / mean |s₀|"));
    kind_->addItem(tr("zero-points: mean |z − z₀| / mean |z₀|"));
    kind_->setToolTip(
        tr("Which trained parameter the heatmap shows, relative to its initial value"));
    connect(kind_, &QComboBox::currentIndexChanged, this, &DistillView::drawMovement);
    loss_ = new DistillLossPlot(this);
    heatmap_ = new LayerHeatmapPlot(tr("How far each layer's parameters moved"),
                                    tr("relative movement"), this);
    heatmap_->setObjectName(QStringLiteral("distillMovement"));
    heatmap_->clearPlot(tr("Distill a result to see which layers' parameters moved"));
    connect(heatmap_, &LayerHeatmapPlot::cellClicked, this, [this](int block, int type) {
        if (model_) {
            const int i = model_->layerIndex(block, type);
            if (i >= 0)
                Q_EMIT layerActivated(i);
        }
    });

    auto* right = new QWidget(this);
    auto* rl = new QVBoxLayout(right);
    rl->setContentsMargins(0, 0, 0, 0);
    auto* kindRow = new QHBoxLayout;
    kindRow->addWidget(new QLabel(tr("Movement of"), right));
    kindRow->addWidget(kind_, 1);
    rl->addLayout(kindRow);
    rl->addWidget(heatmap_, 1);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(loss_);
    split->addWidget(right);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(summary_);
    layout->addWidget(split, 1);
}

QList<PlotView*> DistillView::plots() const
{
    return {loss_, heatmap_};
}

QString DistillView::summaryText() const
{
    return summary_->text();
}

int DistillView::movementKind() const
{
    return kind_->currentIndex();
}

void DistillView::setMovementKind(int kind)
{
    kind_->setCurrentIndex(kind);
    drawMovement();
}

void DistillView::startRun(const DistillSettings& settings)
{
    loss_->start(0);
    summary_->setText(tr("Distilling: %1…").arg(settings.describe().toHtmlEscaped()));
}

void DistillView::addStep(int64_t step, int64_t steps, double loss)
{
    loss_->addStep(step, steps, loss);
    summary_->setText(
        tr("Distilling: step %1 of %2, loss %3").arg(step).arg(steps).arg(loss, 0, 'g', 5));
}

void DistillView::setOutcome(const ModelPtr& model, const DistillOutcomePtr& outcome)
{
    model_ = model;
    outcome_ = outcome;
    if (!outcome) {
        restore(QString());
        return;
    }
    loss_->setCurve(outcome->loss, outcome->lossBefore, outcome->lossAfter);
    movement_ = model && outcome->before && outcome->after
                    ? distillMovement(*model, *outcome->before, *outcome->after)
                    : DistillMovement();
    drawMovement();
    const double drop =
        outcome->lossBefore > 0 ? 100.0 * (1.0 - outcome->lossAfter / outcome->lossBefore) : 0.0;
    summary_->setText(
        tr("%1 steps on %2 tokens of %3 in %4: the loss over all training sequences went from "
           "<b>%5</b> to <b>%6</b> (%7% lower). Codes unchanged; the trained result is the "
           "current one (Evaluation compares it with the result it started from; File > Save "
           "and Export use it).")
            .arg(outcome->steps)
            .arg(outcome->tokens)
            .arg(outcome->calibrationSource.section('/', -1).toHtmlEscaped())
            .arg(formatSeconds(outcome->seconds))
            .arg(outcome->lossBefore, 0, 'g', 5)
            .arg(outcome->lossAfter, 0, 'g', 5)
            .arg(drop, 0, 'f', 1));
}

void DistillView::restore(const QString& note)
{
    if (outcome_) {
        const DistillOutcomePtr o = outcome_;
        setOutcome(model_, o);
        summary_->setText(note + QStringLiteral(" ") + summary_->text());
    } else {
        loss_->clearPlot(tr("Distill a result (Job panel, Distill page) to see its loss fall"));
        movement_ = DistillMovement();
        drawMovement();
        summary_->setText(note.isEmpty() ? emptyText() : note);
    }
}

void DistillView::setResult(const ModelPtr& model, const QuantizedModelPtr& qm)
{
    model_ = model;
    outcome_.reset();
    movement_ = DistillMovement();
    drawMovement();
    if (qm && !qm->distill_loss.empty()) {
        auto num = [&](const char* key) {
            auto it = qm->config.extra.find(key);
            return it == qm->config.extra.end() ? NAN : std::atof(it->second.c_str());
        };
        loss_->setCurve(qm->distill_loss, num("distill.loss_before"), num("distill.loss_after"));
        summary_->setText(tr("This result was distilled (%1 steps recorded). Its initial scales "
                             "and zero-points are not in the session, so the movement map is "
                             "empty; distilling it again here shows one.")
                              .arg(qm->distill_loss.size()));
    } else {
        loss_->clearPlot(tr("Distill a result (Job panel, Distill page) to see its loss fall"));
        summary_->setText(emptyText());
    }
}

void DistillView::drawMovement()
{
    if (!movement_.valid()) {
        heatmap_->clearPlot(tr("Distill a result to see which layers' parameters moved"));
        return;
    }
    const bool zero = kind_->currentIndex() == 1;
    const std::vector<double>& v = zero ? movement_.zero : movement_.scale;
    const double hi = zero ? movement_.zeroMax : movement_.scaleMax;
    heatmap_->setMagnitudeRange(
        0.0, hi > 0 ? hi : 1.0,
        zero ? tr("mean |z − z₀| / mean |z₀|") : tr("mean |s − s₀| / mean |s₀|"));
    QStringList labels;
    for (double x : v)
        labels << (std::isfinite(x) ? QString::number(x, 'f', x < 0.1 ? 4 : 3) : QString());
    heatmap_->setData(movement_.types, movement_.blocks, v,
                      zero ? tr("zero-point movement") : tr("scale movement"), labels);
}
