// The job panel: method (from the engine's one method table), bits, group size, seed and device;
// start and cancel; progress with block, layer and ETA; and the job log.
#pragma once

#include <QWidget>

#include "app/gui/jobcontroller.h"
#include "app/gui/jobtypes.h"

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

class JobPanel : public QWidget {
    Q_OBJECT
public:
    explicit JobPanel(QWidget* parent = nullptr);

    JobSettings settings() const;
    void setSettings(const JobSettings& s);
    void setModelLoaded(bool loaded);
    void setState(JobController::State state);
    void setProgress(const JobProgress& p);
    void appendLog(const QString& line);
    QString logText() const;

Q_SIGNALS:
    void startRequested();
    void cancelRequested();
    void settingsChanged();

private:
    QComboBox* method_ = nullptr;
    QSpinBox* bits_ = nullptr;
    QComboBox* group_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QComboBox* device_ = nullptr;
    QPushButton* start_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* where_ = nullptr;
    QLabel* eta_ = nullptr;
    QPlainTextEdit* log_ = nullptr;
    bool modelLoaded_ = false;
    JobController::State state_ = JobController::State::Idle;
};

// "cpu", then "cuda:0", "cuda:1"... where this build has the CUDA kernels and devices are visible.
QStringList availableDevices();
