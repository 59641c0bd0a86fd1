// The teaching playground: a synthetic group (distribution, outliers, size, seed, importance
// profile), a bits slider and four modes (Min-Max, NeUQI, NeUQI with integer z, manual scale and
// zero). Every change restarts the computation on a background thread (as in Qt's mandelbrot
// example); the values with their grid, L(z), L(s), the loss, its ratio to the optimum and a
// two-sentence explanation follow live.
#pragma once

#include <QWidget>

#include "core/analysis/group_study.h"
#include "core/demo/synthetic_group.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSlider;
class QSpinBox;
class PlotView;
class GroupValuesPlot;
class ZCurvePlot;
class ScaleLandscapePlot;
class RecomputeThread;
class QSettings;

struct PlaygroundResult {
    zp::demo::GroupSpec spec;
    zp::analysis::StudyMode mode = zp::analysis::StudyMode::NeUQI;
    std::vector<double> w;
    zp::analysis::GroupStudy study;
};
Q_DECLARE_METATYPE(PlaygroundResult)

class PlaygroundView : public QWidget {
    Q_OBJECT
public:
    explicit PlaygroundView(QWidget* parent = nullptr);

    void saveSettings(QSettings& s) const;
    void restoreSettings(const QSettings& s);
    QList<PlotView*> plots() const;
    QString lossText() const;
    QString explanation() const;
    bool isComputing() const;
    const PlaygroundResult& result() const { return result_; }
    // Explains a result in two sentences (shown under the plots).
    static QString explain(const PlaygroundResult& r);

Q_SIGNALS:
    void updated();

private:
    void request();
    void show(const PlaygroundResult& r);
    void updateLabels();

    QComboBox* distribution_ = nullptr;
    QDoubleSpinBox* outliers_ = nullptr;
    QSpinBox* size_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QComboBox* importance_ = nullptr;
    QSlider* bits_ = nullptr;
    QLabel* bitsLabel_ = nullptr;
    QComboBox* mode_ = nullptr;
    QSlider* scale_ = nullptr;
    QLabel* scaleLabel_ = nullptr;
    QSlider* zero_ = nullptr;
    QLabel* zeroLabel_ = nullptr;
    QLabel* loss_ = nullptr;
    QLabel* explanation_ = nullptr;
    GroupValuesPlot* values_ = nullptr;
    ZCurvePlot* zcurve_ = nullptr;
    ScaleLandscapePlot* landscape_ = nullptr;
    RecomputeThread* thread_ = nullptr;
    PlaygroundResult result_;
    bool restoring_ = false;
};
