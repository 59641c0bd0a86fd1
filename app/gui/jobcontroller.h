// Owns the job thread and its QuantWorker (qtbase's worker-object pattern): start() hands a job to
// the worker through a queued call, cancel() asks it to stop, and the worker's signals arrive here
// queued, on the GUI thread. One job at a time.
#pragma once

#include <QObject>
#include <QThread>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QuantWorker;

class JobController : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Running, Cancelling };
    Q_ENUM(State)
    enum class Kind { Quantize, Distill };
    Q_ENUM(Kind)

    explicit JobController(QObject* parent = nullptr);
    ~JobController() override;

    State state() const { return state_; }
    bool isIdle() const { return state_ == State::Idle; }
    // False (and nothing starts) when a job is already running or there is no model.
    bool start(ModelPtr model, const JobSettings& settings);
    // A distillation of qm (left as it is); false when a job runs or an input is missing.
    bool startDistill(ModelPtr model, QuantizedModelPtr qm, const DistillSettings& settings);
    // The kind of the running job (or of the last one).
    Kind kind() const { return kind_; }
    void cancel();

Q_SIGNALS:
    void stateChanged(JobController::State state);
    void progress(const JobProgress& p);
    void layerFinished(const LayerResult& r);
    void message(const QString& line);
    void quantized(const QuantizedModelPtr& qm);  // the whole result, just before finished
    void distillStep(qint64 step, qint64 steps, double loss);  // live, on the GUI thread
    void distilled(const DistillOutcomePtr& outcome);          // just before finished
    void finished(const JobSummary& s);
    void cancelled(const JobSummary& s);
    void failed(const QString& error, const JobSummary& s);

private:
    void setState(State s);

    QThread thread_;
    QuantWorker* worker_ = nullptr;
    State state_ = State::Idle;
    Kind kind_ = Kind::Quantize;
};
