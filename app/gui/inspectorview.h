// The layer inspector: for a chosen layer, row and group, six plots (a)-(f) that show why NeUQI's
// parameters beat Min-Max's. The analysis runs on a RecomputeThread; moving a spin box restarts it.
#pragma once

#include <QWidget>

#include "app/gui/inspectordata.h"
#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QComboBox;
class QLabel;
class QSpinBox;
class PlotView;
class HistogramPlot;
class ZCurvePlot;
class ScaleLandscapePlot;
class ImportancePlot;
class RowErrorPlot;
class LossGridPlot;
class RecomputeThread;

class InspectorView : public QWidget {
    Q_OBJECT
public:
    explicit InspectorView(QWidget* parent = nullptr);

    void setModel(ModelPtr model);
    // The job's result for a layer (the inspector uses its settings, importance and row errors).
    void setResult(const LayerResult& r);
    void clearResults();
    // Settings used for layers without a result.
    void setFallbackSettings(const JobSettings& s);
    void inspect(int layer, int row = -1, int group = -1);

    int currentLayer() const;
    bool isComputing() const;
    const InspectorData& data() const { return data_; }
    QList<PlotView*> plots() const;

Q_SIGNALS:
    void updated();  // every plot shows the current choice
    void failed(const QString& message);

private:
    void request();
    void show(const InspectorData& d);

    ModelPtr model_;
    std::vector<LayerResult> results_;
    JobSettings fallback_;
    InspectorData data_;
    QComboBox* layerBox_ = nullptr;
    QSpinBox* rowBox_ = nullptr;
    QSpinBox* groupBox_ = nullptr;
    QLabel* summary_ = nullptr;
    HistogramPlot* histogram_ = nullptr;
    ZCurvePlot* zcurve_ = nullptr;
    ScaleLandscapePlot* landscape_ = nullptr;
    ImportancePlot* importance_ = nullptr;
    RowErrorPlot* rowError_ = nullptr;
    LossGridPlot* lossGrid_ = nullptr;
    RecomputeThread* thread_ = nullptr;
    bool updating_ = false;
};
