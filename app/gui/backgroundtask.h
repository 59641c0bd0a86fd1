// One long engine call at a time on a thread of its own (evaluation, export, session files): the
// work gets the engine's progress callback, which returns false once cancel() was called; the
// results come back as a QVariant through queued signals, on the GUI thread.
#pragma once

#include <QObject>
#include <QVariant>

#include <atomic>
#include <functional>
#include <memory>

#include "core/common/progress.h"

class QThread;

class BackgroundTask : public QObject {
    Q_OBJECT
public:
    using Work = std::function<QVariant(const zp::ProgressFn& progress)>;

    explicit BackgroundTask(QObject* parent = nullptr);
    ~BackgroundTask() override;  // cancels and waits

    bool isRunning() const { return thread_ != nullptr; }
    // False (nothing starts) while a task runs.
    bool start(Work work);
    void cancel();
    // Blocks until the running task (if any) has ended and its signals are delivered.
    void wait();

Q_SIGNALS:
    void runningChanged(bool running);
    void progress(double done, double total, const QString& stage);
    void finished(const QVariant& result);
    void cancelled();
    void failed(const QString& error);

private:
    void end();  // the thread has ended: reap it

    QThread* thread_ = nullptr;
    std::shared_ptr<std::atomic<bool>> cancel_;
};
