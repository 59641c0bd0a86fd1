#include "app/gui/recomputethread.h"

#include <exception>

RecomputeThread::RecomputeThread(QObject* parent) : QThread(parent)
{
}

RecomputeThread::~RecomputeThread()
{
    {
        QMutexLocker lock(&mutex_);
        abort_ = true;
        condition_.wakeOne();
    }
    wait();
}

void RecomputeThread::request(Task task)
{
    QMutexLocker lock(&mutex_);
    pending_ = std::move(task);
    ++requested_;
    busy_ = true;
    if (!isRunning())
        start(LowPriority);
    else
        condition_.wakeOne();
}

bool RecomputeThread::isBusy() const
{
    QMutexLocker lock(&mutex_);
    return busy_;
}

void RecomputeThread::run()
{
    for (;;) {
        Task task;
        quint64 generation;
        {
            QMutexLocker lock(&mutex_);
            while (!pending_ && !abort_) {
                busy_ = false;
                condition_.wait(&mutex_);
            }
            if (abort_)
                return;
            task = std::move(pending_);
            pending_ = nullptr;
            generation = requested_;
        }
        auto stillWanted = [this, generation] {
            QMutexLocker lock(&mutex_);
            return !abort_ && requested_ == generation;
        };
        QVariant result;
        QString error;
        try {
            result = task(stillWanted);
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what()).section('\n', 0, 0);
        }
        if (!stillWanted())
            continue;  // a newer request arrived: this result is stale
        if (error.isEmpty())
            Q_EMIT computed(result);
        else
            Q_EMIT failed(error);
    }
}
