// The Activations tab: RUQuant's argument (core/MATHS.md section 8) on real activations of a
// chosen block, linear-input group and token. The full-precision model runs on calibration text up
// to the block and the group's input is captured; the group's transform is the run's (after a job
// with a transform, or a session) or one built here for the chosen kind. Shown: the per-channel
// max |x| after each stage (the outlier picture), one token's values against the per-token
// quantizer's intervals with each interval's midpoint and Lloyd-Max centroid before and after the
// transform, and every token's relative quantization error before and after. The work runs on a
// BackgroundTask with progress and cancel; a change of block, group, transform or quantizer starts
// it again, a change of token or stage only redraws.
#pragma once

#include <QWidget>

#include <memory>

#include "app/gui/activationdata.h"
#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class BackgroundTask;
class ChannelMaxPlot;
class PlotView;
class TokenErrorPlot;
class TokenIntervalPlot;

class ActivationsView : public QWidget {
    Q_OBJECT
public:
    explicit ActivationsView(QWidget* parent = nullptr);
    ~ActivationsView() override;

    // The model and the current run (null: none). A run with transforms makes "the run's
    // transform" the default source and takes its activation bits and clip.
    void setInputs(ModelPtr model, QuantizedModelPtr run);
    // The job panel's settings: the text (calibration file), tokenizer, seed and the options of a
    // transform built here (alpha, rotation block, steps, Givens variant).
    void setJobSettings(const JobSettings& s);

    // The request the controls describe.
    ActivationRequest request() const;
    void setBlock(int block);
    void setGroup(const QString& group);
    // "run" (the run's transform) or a transform kind name ("none", "smooth", ...).
    void setTransformSource(const QString& source);
    QString transformSource() const;
    void setBits(int abits, double aclip);
    void setText(const QString& path, int nsamples, int seqlen);
    void setToken(int token);
    int token() const;
    void setStage(int stage);  // -1: every stage

    bool compute();  // false when nothing can start (no model); restarts a running computation
    void cancel();
    bool isRunning() const;
    const ActivationData& data() const { return data_; }
    // The chosen token's grids, as drawn.
    const TokenIntervals& intervalsBefore() const { return before_; }
    const TokenIntervals& intervalsAfter() const { return after_; }
    QString summaryText() const;
    QString statusText() const;
    QList<PlotView*> plots() const;

Q_SIGNALS:
    void updated();  // new data drawn
    void failed(const QString& message);
    void cancelled();

private:
    void requestUpdate();  // a control that needs new data changed
    void updateEnabled();
    void showData(const ActivationData& d);
    void redrawToken();
    void redrawStages();
    void fillTransformSources();

    ModelPtr model_;
    QuantizedModelPtr run_;
    JobSettings job_;
    ActivationData data_;
    TokenIntervals before_, after_;
    std::shared_ptr<ActivationCapture> cache_;  // shared with the running task
    BackgroundTask* task_ = nullptr;
    bool pending_ = false;   // start again when the running task has ended
    bool updating_ = false;  // controls being set programmatically

    QSpinBox* block_ = nullptr;
    QComboBox* group_ = nullptr;
    QComboBox* transform_ = nullptr;
    QSpinBox* bits_ = nullptr;
    QDoubleSpinBox* clip_ = nullptr;
    QLineEdit* text_ = nullptr;
    QPushButton* browse_ = nullptr;
    QSpinBox* nsamples_ = nullptr;
    QSpinBox* seqlen_ = nullptr;
    QSpinBox* token_ = nullptr;
    QComboBox* stage_ = nullptr;
    QPushButton* compute_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* summary_ = nullptr;
    ChannelMaxPlot* stages_ = nullptr;
    TokenErrorPlot* errors_ = nullptr;
    TokenIntervalPlot* tokenBefore_ = nullptr;
    TokenIntervalPlot* tokenAfter_ = nullptr;
};
