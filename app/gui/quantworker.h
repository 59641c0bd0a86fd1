// Runs a quantization job layer by layer on the thread it has been moved to. Each finished layer
// is handed back at once as a LayerResult value; cancel() may be called from any thread and takes
// effect between layers.
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

Q_SIGNALS:
    void progress(const JobProgress& p);
    void layerFinished(const LayerResult& r);
    void message(const QString& line);
    void finished(const JobSummary& s);
    void cancelled(const JobSummary& s);
    void failed(const QString& error, const JobSummary& s);

private:
    std::atomic<bool> cancel_{false};
};
