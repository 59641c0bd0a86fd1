// Runs the engine's quantization pipeline (core/pipeline/pipeline.h) on the thread it has been
// moved to: calibration set, then RTN or GPTQ block by block. Finished layers are handed back as
// LayerResult values (live where the engine reports layers as they finish, else when the run
// ends); cancel() may be called from any thread and takes effect at the engine's next progress
// report. A cancelled or failed run writes nothing and leaves the shared model untouched (the
// pipeline runs on a private engine instance and does not write back).
#pragma once

#include <QObject>

#include <atomic>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QuantWorker : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;

    void cancel() { cancel_.store(true); }        // thread-safe
    void resetCancel() { cancel_.store(false); }  // before queueing a job
    // Runs the whole job (blocking the worker's thread). Exactly one of finished/cancelled/failed
    // ends it.
    void run(ModelPtr model, JobSettings settings);
    // NeUQI's lightweight distillation of qm against the model (core/pipeline/distill.h): draws
    // the calibration windows, trains, and hands back a DistillOutcome; qm itself is never
    // changed. Exactly one of finished/cancelled/failed ends it.
    void runDistill(ModelPtr model, QuantizedModelPtr qm, DistillSettings settings);

Q_SIGNALS:
    void progress(const JobProgress& p);
    void layerFinished(const LayerResult& r);
    void message(const QString& line);
    void quantized(const QuantizedModelPtr& qm);  // just before finished
    // After each distillation step, emitted on the worker's thread (queued to receivers).
    void distillStep(qint64 step, qint64 steps, double loss);
    void distilled(const DistillOutcomePtr& outcome);  // just before finished
    void finished(const JobSummary& s);
    void cancelled(const JobSummary& s);
    void failed(const QString& error, const JobSummary& s);

private:
    std::atomic<bool> cancel_{false};
};
