// The distillation loss per step (MSE between the full-precision and the quantized model's final
// hidden states), drawn live as the steps arrive, with the loss over all sequences before and
// after training as dashed lines once the job ends.
#pragma once

#include <cstdint>
#include <vector>

#include "app/gui/plots/plotview.h"

class QCPGraph;

class DistillLossPlot : public PlotView {
    Q_OBJECT
public:
    explicit DistillLossPlot(QWidget* parent = nullptr);

    // A new run of `steps` steps: an empty curve.
    void start(int64_t steps);
    // One step (1-based); the curve grows and the axes follow.
    void addStep(int64_t step, int64_t steps, double loss);
    // A whole curve (a finished run or a session's record); before / after: the mean loss over
    // all sequences with the initial and the trained parameters (NaN: not drawn).
    void setCurve(const std::vector<double>& loss, double before, double after);
    // The losses drawn, step 1 first.
    const std::vector<double>& values() const { return values_; }
    QString hoverText(const QPoint& pixel) const override;
    void writeCsv(QTextStream& out) const override;

private:
    void rescale();

    QCPGraph* graph_ = nullptr;
    std::vector<double> values_;
    int64_t steps_ = 0;
    double before_, after_;
};
