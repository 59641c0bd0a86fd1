// A restartable background computation, as in Qt's mandelbrot example: request() hands over a new
// task; if one is running it is told to stop (its `stillWanted()` turns false, so it can give up
// between stages) and the newest task runs next. Only the newest task's result is delivered.
#pragma once

#include <QMutex>
#include <QThread>
#include <QVariant>
#include <QWaitCondition>

#include <functional>

class RecomputeThread : public QThread {
    Q_OBJECT
public:
    // Runs on the worker thread; returns the result, or throws (the message reaches failed()).
    using Task = std::function<QVariant(const std::function<bool()>& stillWanted)>;

    explicit RecomputeThread(QObject* parent = nullptr);
    ~RecomputeThread() override;

    void request(Task task);
    bool isBusy() const;

Q_SIGNALS:
    void computed(const QVariant& result);
    void failed(const QString& message);

protected:
    void run() override;

private:
    mutable QMutex mutex_;
    QWaitCondition condition_;
    Task pending_;
    quint64 requested_ = 0;  // generation of the newest request
    bool busy_ = false;
    bool abort_ = false;
};
