#include "app/gui/backgroundtask.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QPointer>
#include <QThread>

#include "core/common/error.h"

BackgroundTask::BackgroundTask(QObject* parent) : QObject(parent)
{
}

BackgroundTask::~BackgroundTask()
{
    if (thread_) {
        cancel_->store(true);
        thread_->wait();
        delete thread_;
    }
}

bool BackgroundTask::start(Work work)
{
    if (thread_)
        return false;
    cancel_ = std::make_shared<std::atomic<bool>>(false);
    auto cancel = cancel_;
    QPointer<BackgroundTask> self(this);
    // The outcome is posted to this object (GUI thread); a destroyed task receives nothing.
    auto post = [self](std::function<void(BackgroundTask*)> f) {
        if (self)
            QMetaObject::invokeMethod(
                self.data(),
                [self, f] {
                    if (self)
                        f(self.data());
                },
                Qt::QueuedConnection);
    };
    thread_ = QThread::create([work = std::move(work), cancel, post] {
        QElapsedTimer last;
        last.start();
        zp::ProgressFn progress = [&](double done, double total, const std::string& stage) {
            if (cancel->load())
                return false;
            if (last.elapsed() >= 50 || done >= total) {  // at most ~20 updates a second
                last.restart();
                const QString s = QString::fromStdString(stage);
                post([done, total, s](BackgroundTask* t) { Q_EMIT t->progress(done, total, s); });
            }
            return true;
        };
        try {
            QVariant r = work(progress);
            if (cancel->load())
                throw zp::Cancelled();
            post([r](BackgroundTask* t) {
                t->end();
                Q_EMIT t->finished(r);
            });
        } catch (const zp::Cancelled&) {
            post([](BackgroundTask* t) {
                t->end();
                Q_EMIT t->cancelled();
            });
        } catch (const std::exception& e) {
            const QString what = QString::fromUtf8(e.what()).section('\n', 0, 0);
            post([what](BackgroundTask* t) {
                t->end();
                Q_EMIT t->failed(what);
            });
        }
    });
    thread_->setObjectName(QStringLiteral("zeropoint-task"));
    thread_->start();
    Q_EMIT runningChanged(true);
    return true;
}

void BackgroundTask::end()
{
    if (!thread_)
        return;
    thread_->wait();
    delete thread_;
    thread_ = nullptr;
    Q_EMIT runningChanged(false);
}

void BackgroundTask::cancel()
{
    if (cancel_)
        cancel_->store(true);
}

void BackgroundTask::wait()
{
    while (thread_)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
}
