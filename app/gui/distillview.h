// The Distillation tab: NeUQI's lightweight distillation of the current result (core/MATHS.md
// section 7). The loss per step, drawn live while the job trains; per layer, how far the scales
// or the zero-points moved from their initial values (a blocks x layer types heatmap, mean
// |s - s0| / mean |s0| or the same for z); and a summary (steps, tokens, loss before and after).
// A session that was distilled elsewhere shows its recorded loss curve (its initial parameters
// are not in the file, so no movement).
#pragma once

#include <QWidget>

#include "app/gui/distilldata.h"
#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QComboBox;
class QLabel;
class DistillLossPlot;
class LayerHeatmapPlot;
class PlotView;

class DistillView : public QWidget {
    Q_OBJECT
public:
    explicit DistillView(QWidget* parent = nullptr);

    // A job starts: an empty curve (the previous outcome stays for restore()).
    void startRun(const DistillSettings& settings);
    // One step, from the job (GUI thread).
    void addStep(int64_t step, int64_t steps, double loss);
    // A finished job: its curve, the movement heatmap and the summary.
    void setOutcome(const ModelPtr& model, const DistillOutcomePtr& outcome);
    // After a cancelled or failed job: the last outcome (or the empty state) again, with `note`.
    void restore(const QString& note);
    // The current result changed to one this view did not make: its recorded curve (a distilled
    // session) or the empty state.
    void setResult(const ModelPtr& model, const QuantizedModelPtr& qm);

    // 0: scales, 1: zero-points.
    void setMovementKind(int kind);
    int movementKind() const;
    const DistillMovement& movement() const { return movement_; }
    DistillOutcomePtr outcome() const { return outcome_; }
    DistillLossPlot* lossPlot() const { return loss_; }
    LayerHeatmapPlot* movementPlot() const { return heatmap_; }
    QString summaryText() const;
    QList<PlotView*> plots() const;

Q_SIGNALS:
    void layerActivated(int layer);

private:
    void drawMovement();

    ModelPtr model_;
    DistillOutcomePtr outcome_;
    DistillMovement movement_;
    QLabel* summary_ = nullptr;
    QComboBox* kind_ = nullptr;
    DistillLossPlot* loss_ = nullptr;
    LayerHeatmapPlot* heatmap_ = nullptr;
};
