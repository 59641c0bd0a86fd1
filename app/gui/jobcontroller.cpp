#include "app/gui/jobcontroller.h"

#include "app/gui/quantworker.h"

JobController::JobController(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<JobSettings>();
    qRegisterMetaType<LayerResult>();
    qRegisterMetaType<JobProgress>();
    qRegisterMetaType<JobSummary>();
    qRegisterMetaType<QuantizedModelPtr>();
    qRegisterMetaType<DistillSettings>();
    qRegisterMetaType<DistillOutcomePtr>();
    thread_.setObjectName(QStringLiteral("zeropoint-job"));
    worker_ = new QuantWorker;
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(worker_, &QuantWorker::progress, this, &JobController::progress);
    connect(worker_, &QuantWorker::layerFinished, this, &JobController::layerFinished);
    connect(worker_, &QuantWorker::message, this, &JobController::message);
    connect(worker_, &QuantWorker::quantized, this, &JobController::quantized);
    connect(worker_, &QuantWorker::distillStep, this, &JobController::distillStep,
            Qt::QueuedConnection);
    connect(worker_, &QuantWorker::distilled, this, &JobController::distilled);
    connect(worker_, &QuantWorker::finished, this, [this](const JobSummary& s) {
        setState(State::Idle);
        Q_EMIT finished(s);
    });
    connect(worker_, &QuantWorker::cancelled, this, [this](const JobSummary& s) {
        setState(State::Idle);
        Q_EMIT cancelled(s);
    });
    connect(worker_, &QuantWorker::failed, this, [this](const QString& e, const JobSummary& s) {
        setState(State::Idle);
        Q_EMIT failed(e, s);
    });
    thread_.start();
}

JobController::~JobController()
{
    worker_->cancel();
    thread_.quit();
    thread_.wait();
}

bool JobController::start(ModelPtr model, const JobSettings& settings)
{
    if (state_ != State::Idle || !model)
        return false;
    kind_ = Kind::Quantize;
    setState(State::Running);
    QuantWorker* w = worker_;
    w->resetCancel();
    QMetaObject::invokeMethod(
        w, [w, model, settings] { w->run(model, settings); }, Qt::QueuedConnection);
    return true;
}

bool JobController::startDistill(ModelPtr model, QuantizedModelPtr qm,
                                 const DistillSettings& settings)
{
    if (state_ != State::Idle || !model || !qm)
        return false;
    kind_ = Kind::Distill;
    setState(State::Running);
    QuantWorker* w = worker_;
    w->resetCancel();
    QMetaObject::invokeMethod(
        w, [w, model, qm, settings] { w->runDistill(model, qm, settings); }, Qt::QueuedConnection);
    return true;
}

void JobController::cancel()
{
    if (state_ != State::Running)
        return;
    worker_->cancel();
    setState(State::Cancelling);
}

void JobController::setState(State s)
{
    if (s == state_)
        return;
    state_ = s;
    Q_EMIT stateChanged(s);
}
