// The job panel: pipeline method (from the engine's one method table), bits, group size,
// calibration (file and format, or the demo's sampled text; N x L and seed), tokenizer and device;
// the weight clip and the activation side (activation bits and clip, the transform kind from
// quant::transform_kinds(), alpha, rotation block, Givens variant, RUQuant's greedy steps, Givens
// rounds, rotation tokens and stage 2), on a "Quantize" page; on a "Distill" page the settings of
// NeUQI's lightweight distillation of the current result (learning rate, epochs, warm-up, batch,
// norms, its calibration draw). Every default, range and choice from the run-options table;
// start and cancel; progress with block, layer (or step), stage and ETA; and the job log.
#pragma once

#include <QWidget>

#include "app/gui/jobcontroller.h"
#include "app/gui/jobtypes.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;

class JobPanel : public QWidget {
    Q_OBJECT
public:
    explicit JobPanel(QWidget* parent = nullptr);

    JobSettings settings() const;
    void setSettings(const JobSettings& s);
    // The distillation settings (tokenizer and device shared with the quantization; an empty
    // calibration file there means the quantization's).
    DistillSettings distillSettings() const;
    void setDistillSettings(const DistillSettings& s);
    // Whether the current result can be distilled; `why` (shown on the Distill page) when not.
    void setDistillAvailable(bool available, const QString& why = QString());
    bool distillAvailable() const { return distillAvailable_; }
    QString distillUnavailableReason() const { return distillWhy_; }
    void showDistillPage();
    void setModelLoaded(bool loaded, bool demo = false);
    void setState(JobController::State state);
    void setProgress(const JobProgress& p);
    void appendLog(const QString& line);
    QString logText() const;
    QString stageText() const;

Q_SIGNALS:
    void startRequested();
    void distillRequested();
    void cancelRequested();
    void settingsChanged();

private:
    void updateCalibrationHint();
    void updateTransformControls();  // alpha, block and Givens only where the kind uses them

    QComboBox* method_ = nullptr;
    QSpinBox* bits_ = nullptr;
    QComboBox* group_ = nullptr;
    QLineEdit* calib_ = nullptr;
    QPushButton* calibBrowse_ = nullptr;
    QComboBox* calibFormat_ = nullptr;
    QSpinBox* nsamples_ = nullptr;
    QSpinBox* seqlen_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QLineEdit* tokenizer_ = nullptr;
    QPushButton* tokBrowse_ = nullptr;
    QComboBox* device_ = nullptr;
    QDoubleSpinBox* wclip_ = nullptr;
    QComboBox* protect_ = nullptr;
    QComboBox* preset_ = nullptr;    // llama.cpp preset: none, Q2_K ... Q8_0
    QDoubleSpinBox* bpw_ = nullptr;  // size budget (bits per weight of the linears), 0 = off
    QSpinBox* abits_ = nullptr;
    QDoubleSpinBox* aclip_ = nullptr;
    QComboBox* transform_ = nullptr;
    QDoubleSpinBox* alpha_ = nullptr;
    QSpinBox* rotBlock_ = nullptr;
    QComboBox* givens_ = nullptr;
    QSpinBox* rotSteps_ = nullptr;
    QSpinBox* givensRounds_ = nullptr;
    QSpinBox* rotTokens_ = nullptr;
    QSpinBox* finetuneEpochs_ = nullptr;
    QDoubleSpinBox* finetuneLr_ = nullptr;
    QTabWidget* pages_ = nullptr;
    QDoubleSpinBox* lr_ = nullptr;
    QSpinBox* epochs_ = nullptr;
    QDoubleSpinBox* warmup_ = nullptr;
    QSpinBox* distillBatch_ = nullptr;
    QCheckBox* trainNorms_ = nullptr;
    QLineEdit* distillCalib_ = nullptr;
    QPushButton* distillCalibBrowse_ = nullptr;
    QSpinBox* distillSamples_ = nullptr;
    QSpinBox* distillSeqlen_ = nullptr;
    QSpinBox* distillSeed_ = nullptr;
    QPushButton* distill_ = nullptr;
    QLabel* distillNote_ = nullptr;
    QPushButton* start_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* where_ = nullptr;
    QLabel* stage_ = nullptr;
    QLabel* eta_ = nullptr;
    QPlainTextEdit* log_ = nullptr;
    JobSettings base_;  // the last settings set: the fields without a widget come from it
    DistillSettings distillBase_;
    bool distillAvailable_ = false;
    QString distillWhy_;
    bool modelLoaded_ = false, demo_ = false;
    JobController::State state_ = JobController::State::Idle;
};

// "cpu", then "cuda:0", "cuda:1"... for every CUDA device this libtorch sees (none with a
// CPU-only libtorch).
QStringList availableDevices();
