#include "app/gui/activationscreenshots.h"

#include <QApplication>
#include <QTabWidget>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "app/gui/activationsview.h"
#include "app/gui/jobpanel.h"
#include "app/gui/mainwindow.h"
#include "app/gui/overviewview.h"
#include "app/gui/plots/plotview.h"

ActivationScreenshots::ActivationScreenshots(MainWindow* window, const QString& dir,
                                             const QString& model, const QString& tokenizer,
                                             const QString& calib, QObject* parent)
    : QObject(parent),
      window_(window),
      dir_(dir),
      model_(model),
      tokenizer_(tokenizer),
      calib_(calib)
{
}

void ActivationScreenshots::start()
{
    if (!dir_.mkpath(QStringLiteral("."))) {
        fail(QStringLiteral("cannot create %1").arg(dir_.path()));
        return;
    }
    QTimer::singleShot(20 * 60 * 1000, this, [this] { fail(QStringLiteral("timed out")); });
    if (!window_->openModel(model_)) {
        fail(window_->lastError());
        return;
    }
    // W4A4 RUQuant with RTN weights, the paper's clips.
    JobSettings s;
    s.setPipeline(QStringLiteral("rtn-minmax"));
    s.bits = 4;
    s.groupSize = -1;
    s.wclip = 0.8;
    s.abits = 4;
    s.aclip = 0.9;
    s.transform = QStringLiteral("ruquant");
    s.calibPath = calib_;
    s.tokenizer = tokenizer_;
    s.nsamples = 32;
    s.seqlen = 256;
    s.seed = 0;
    window_->jobPanel()->setSettings(s);
    ActivationsView* v = window_->activations();
    connect(v, &ActivationsView::updated, this, &ActivationScreenshots::viewUpdated);
    connect(v, &ActivationsView::failed, this, [this](const QString& e) { fail(e); });
    connect(window_->jobController(), &JobController::finished, this,
            &ActivationScreenshots::jobFinished);
    connect(window_->jobController(), &JobController::failed, this,
            [this](const QString& e) { fail(e); });
    window_->tabs()->setCurrentWidget(v);
    v->setText(QString(), 4, 128);  // the job's calibration text
    v->setBlock(window_->model()->blockCount() / 2);
    v->setGroup(QStringLiteral("q_proj"));
    v->setTransformSource(QStringLiteral("ruquant"));
    v->setBits(4, 0.9);
    stage_ = 1;
    if (!v->compute())
        fail(QStringLiteral("the activations did not start"));
}

void ActivationScreenshots::viewUpdated()
{
    if (finished_)
        return;
    ActivationsView* v = window_->activations();
    if (stage_ == 1) {
        // A typical token: the one with the median error without the transform.
        const auto& e = v->data().errorPlain;
        std::vector<int> order(e.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int a, int b) { return e[a] < e[b]; });
        if (!order.empty())
            v->setToken(order[order.size() / 2]);
    }
    QApplication::processEvents();
    if (stage_ == 1) {
        grabWindow(QStringLiteral("activations_before_job_window.png"));
        savePlots(QStringLiteral("activations_before_job"));
        stage_ = 2;
        if (!window_->startJob())
            fail(window_->lastError());
    } else if (stage_ == 3) {
        grabWindow(QStringLiteral("activations_window.png"));
        savePlots(QStringLiteral("activations"));
        stage_ = 4;
        v->setGroup(QStringLiteral("down_proj"));  // recomputes
    } else if (stage_ == 4) {
        grabWindow(QStringLiteral("activations_down_proj_window.png"));
        savePlots(QStringLiteral("activations_down_proj"));
        finished_ = true;
        std::printf("zeropoint: wrote %lld screenshots to %s\n",
                    static_cast<long long>(written_.size()), qPrintable(dir_.absolutePath()));
        Q_EMIT done(0);
    }
}

void ActivationScreenshots::jobFinished()
{
    if (finished_ || stage_ != 2)
        return;
    window_->tabs()->setCurrentWidget(window_->overview());
    QApplication::processEvents();
    QTimer::singleShot(300, this, [this] {
        grabWindow(QStringLiteral("overview_activations_window.png"));
        const auto plots = window_->overview()->plots();
        if (plots.size() > 2 &&
            plots[2]->save(dir_.filePath(QStringLiteral("overview_activation_heatmap.png")), 700,
                           560))
            written_ << dir_.filePath(QStringLiteral("overview_activation_heatmap.png"));
        stage_ = 3;
        ActivationsView* v = window_->activations();
        window_->tabs()->setCurrentWidget(v);
        v->setTransformSource(QStringLiteral("run"));
        if (!v->compute())
            fail(QStringLiteral("the activations did not start"));
    });
}

void ActivationScreenshots::grabWindow(const QString& name)
{
    const QString path = dir_.filePath(name);
    if (window_->grab().save(path))
        written_ << path;
    else
        std::fprintf(stderr, "zeropoint: could not write %s\n", qPrintable(path));
}

void ActivationScreenshots::savePlots(const QString& prefix)
{
    const char* names[] = {"stages", "token_errors", "token_before", "token_after"};
    const auto plots = window_->activations()->plots();
    for (int i = 0; i < plots.size() && i < 4; ++i) {
        const QString path =
            dir_.filePath(QStringLiteral("%1_%2.png").arg(prefix, QString::fromLatin1(names[i])));
        if (plots[i]->save(path, 900, 560))
            written_ << path;
        else
            std::fprintf(stderr, "zeropoint: could not write %s\n", qPrintable(path));
    }
}

void ActivationScreenshots::fail(const QString& why)
{
    if (finished_)
        return;
    finished_ = true;
    std::fprintf(stderr, "zeropoint: screenshots failed: %s\n", qPrintable(why));
    Q_EMIT done(1);
}
