#include "app/gui/screenshotrunner.h"

#include <QApplication>
#include <QComboBox>
#include <QSlider>
#include <QTabWidget>
#include <QTableView>
#include <QTimer>

#include <cstdio>

#include "app/gui/distillview.h"
#include "app/gui/evalview.h"
#include "app/gui/exportdialog.h"
#include "app/gui/inspectorview.h"
#include "app/gui/jobpanel.h"
#include "app/gui/layertablemodel.h"
#include "app/gui/mainwindow.h"
#include "app/gui/outliersview.h"
#include "app/gui/overviewview.h"
#include "app/gui/playgroundview.h"
#include "app/gui/plots/plotview.h"

ScreenshotRunner::ScreenshotRunner(MainWindow* window, const QString& dir, const QString& model,
                                   const QString& tokenizer, const QString& calib, QObject* parent)
    : QObject(parent),
      window_(window),
      dir_(dir),
      model_(model),
      tokenizer_(tokenizer),
      calib_(calib)
{
}

void ScreenshotRunner::start()
{
    if (!dir_.mkpath(QStringLiteral("."))) {
        fail(QStringLiteral("cannot create %1").arg(dir_.path()));
        return;
    }
    QTimer::singleShot(10 * 60 * 1000, this, [this] { fail(QStringLiteral("timed out")); });
    QApplication::processEvents();
    grabWindow(QStringLiteral("start_window.png"));  // before any model: the empty states
    if (realDemo_ ? !window_->openRealDemo(model_) : !window_->openModel(model_)) {
        fail(window_->lastError());
        return;
    }
    if (realDemo_ && window_->model()->isDemo())
        model_ = QStringLiteral("demo");  // the fallback: the synthetic demo's run
    realDemo_ = realDemo_ && !window_->model()->isDemo();
    JobSettings s;
    const bool demo = model_ == QLatin1String("demo");
    const bool data = demo || !calib_.isEmpty();
    s.setPipeline(data ? QStringLiteral("gptq-neuqi") : QStringLiteral("rtn-neuqi"));
    s.bits = 2;
    s.groupSize = demo ? 128 : (data ? 32 : -1);
    s.calibPath = calib_;
    s.tokenizer = tokenizer_;
    s.seed = 0;
    s.nsamples = 16;
    s.seqlen = 128;
    if (realDemo_)
        s = window_->jobPanel()->settings();  // the demo's default job, as the user gets it
    else
        window_->jobPanel()->setSettings(s);
    grabWindow(QStringLiteral("opened_window.png"));
    connect(window_->jobController(), &JobController::finished, this,
            &ScreenshotRunner::jobFinished);
    connect(window_->jobController(), &JobController::failed, this,
            [this](const QString& e) { fail(e); });
    if (!window_->startJob())
        fail(window_->lastError());
}

void ScreenshotRunner::jobFinished()
{
    if (window_->jobController()->kind() != JobController::Kind::Quantize || stage_ != 0)
        return;  // the distillation's end is handled by distillReady
    window_->tabs()->setCurrentWidget(window_->overview());
    QApplication::processEvents();
    QTimer::singleShot(200, this, [this] {  // let the coalesced overview redraw happen
        grabWindow(QStringLiteral("overview_window.png"));
        const auto plots = window_->overview()->plots();
        savePlot(plots.value(0), QStringLiteral("overview_heatmap.png"));
        savePlot(plots.value(1), QStringLiteral("overview_bars.png"));
        // Inspect the layer where the method gains most over Min-Max.
        LayerTableModel* t = window_->overview()->tableModel();
        double best = 2.0;
        for (int i = 0; i < t->rowCount(); ++i)
            if (t->result(i).valid() && t->result(i).ratio() < best) {
                best = t->result(i).ratio();
                layer_ = i;
            }
        connect(window_->inspector(), &InspectorView::updated, this,
                &ScreenshotRunner::inspectorReady);
        window_->inspectLayer(layer_ < 0 ? 0 : layer_);
    });
}

void ScreenshotRunner::inspectorReady()
{
    if (stage_ != 0 || window_->inspector()->data().layer != (layer_ < 0 ? 0 : layer_))
        return;
    stage_ = 1;
    QApplication::processEvents();
    grabWindow(QStringLiteral("inspector_window.png"));
    const char* names[] = {"inspector_a_histogram.png",       "inspector_b_loss_z.png",
                           "inspector_c_scale_landscape.png", "inspector_d_importance.png",
                           "inspector_e_row_errors.png",      "inspector_f_loss_grid.png"};
    const auto plots = window_->inspector()->plots();
    for (int i = 0; i < plots.size(); ++i)
        savePlot(plots[i], QString::fromLatin1(names[i]));
    // The Outliers tab: the layer with the most clipped weights beyond k (else the one above).
    LayerTableModel* t = window_->overview()->tableModel();
    const double k = window_->outliers()->threshold();
    int worst = layer_ < 0 ? 0 : layer_, most = 0;
    for (int i = 0; i < t->rowCount(); ++i)
        if (t->result(i).valid() && t->result(i).clippedBeyond(k) > most) {
            most = t->result(i).clippedBeyond(k);
            worst = i;
        }
    window_->tabs()->setCurrentWidget(window_->outliers());
    outliersLayer_ = worst;
    connect(window_->outliers(), &OutliersView::updated, this, &ScreenshotRunner::outliersReady);
    window_->outliers()->setLayer(worst);
    if (window_->outliers()->tableLayer() == worst && !window_->outliers()->isComputing())
        QTimer::singleShot(0, this, &ScreenshotRunner::outliersReady);
}

void ScreenshotRunner::outliersReady()
{
    if (stage_ != 1 || finished_ || window_->outliers()->isComputing() ||
        window_->outliers()->tableLayer() != outliersLayer_)
        return;
    stage_ = 11;
    QApplication::processEvents();
    grabWindow(QStringLiteral("outliers_window.png"));
    stage_ = 1;
    disconnect(window_->outliers(), &OutliersView::updated, this, &ScreenshotRunner::outliersReady);
    window_->tabs()->setCurrentWidget(window_->playground());
    connect(window_->playground(), &PlaygroundView::updated, this,
            &ScreenshotRunner::playgroundReady);
    if (!window_->playground()->isComputing())
        QTimer::singleShot(0, this, &ScreenshotRunner::playgroundReady);
}

void ScreenshotRunner::playgroundReady()
{
    if (stage_ != 1 || window_->playground()->isComputing() || finished_)
        return;
    stage_ = 2;
    QApplication::processEvents();
    grabWindow(QStringLiteral("playground_window.png"));
    const char* names[] = {"playground_values.png", "playground_loss_z.png",
                           "playground_loss_s.png"};
    const auto plots = window_->playground()->plots();
    for (int i = 0; i < plots.size(); ++i)
        savePlot(plots[i], QString::fromLatin1(names[i]));
    // The same group by hand: manual mode with a scale of 0.7 s0.
    stage_ = 3;
    auto* mode = window_->playground()->findChild<QComboBox*>(QStringLiteral("playMode"));
    auto* scale = window_->playground()->findChild<QSlider*>(QStringLiteral("playScale"));
    if (mode && scale) {
        mode->setCurrentIndex(3);
        scale->setValue(700);
    }
    QTimer::singleShot(0, this, &ScreenshotRunner::manualReady);
}

void ScreenshotRunner::manualReady()
{
    if (finished_ || stage_ != 3)
        return;
    if (window_->playground()->isComputing()) {
        QTimer::singleShot(50, this, &ScreenshotRunner::manualReady);
        return;
    }
    QApplication::processEvents();
    grabWindow(QStringLiteral("playground_manual_window.png"));
    // The evaluation tab: perplexity and greedy text of the original and the quantized model.
    stage_ = 4;
    if (model_ != QLatin1String("demo") && calib_.isEmpty() && !realDemo_) {  // no text
        stage_ = 9;
        startExport();
        return;
    }
    window_->tabs()->setCurrentWidget(window_->evaluation());
    EvalSettings es = window_->evaluation()->settings();
    es.textPath = calib_;
    if (!calib_.isEmpty() || realDemo_)
        es.prompt = QStringLiteral("Once upon a time");
    window_->evaluation()->setSettings(es);
    connect(window_->evaluation(), &EvalView::finished, this, [this] {
        if (stage_ == 4)
            evaluationReady();
        else if (stage_ == 8)
            distilledEvaluationReady();
    });
    connect(window_->evaluation(), &EvalView::failed, this, [this](const QString& e) { fail(e); });
    if (!window_->evaluation()->start())
        fail(QStringLiteral("the evaluation did not start"));
}

void ScreenshotRunner::evaluationReady()
{
    if (finished_ || stage_ != 4)
        return;
    stage_ = 5;
    QApplication::processEvents();
    grabWindow(QStringLiteral("evaluation_window.png"));
    savePlot(window_->evaluation()->plots().value(0), QStringLiteral("evaluation_perplexity.png"));
    const QString panel = dir_.filePath(QStringLiteral("job_panel.png"));
    if (window_->jobPanel()->grab().save(panel))
        written_ << panel;
    if (realDemo_) {  // distilling SmolLM2 takes minutes on two cores: not here
        stage_ = 9;
        startExport();
        return;
    }
    // NeUQI's lightweight distillation of the result: a short run on the same text.
    stage_ = 6;
    DistillSettings d = window_->jobPanel()->distillSettings();
    d.calibPath = calib_;
    d.nsamples = 48;
    d.seqlen = 128;
    d.lr = 1e-3;
    window_->jobPanel()->setDistillSettings(d);
    window_->jobPanel()->showDistillPage();
    connect(window_->jobController(), &JobController::distilled, this,
            [this] { QTimer::singleShot(200, this, &ScreenshotRunner::distillReady); });
    if (!window_->startDistill())
        fail(window_->lastError());
}

void ScreenshotRunner::distillReady()
{
    if (finished_ || stage_ != 6)
        return;
    stage_ = 7;
    window_->tabs()->setCurrentWidget(window_->distillation());
    QApplication::processEvents();
    grabWindow(QStringLiteral("distill_window.png"));
    const auto plots = window_->distillation()->plots();
    savePlot(plots.value(0), QStringLiteral("distill_loss.png"));
    savePlot(plots.value(1), QStringLiteral("distill_movement_scale.png"));
    window_->distillation()->setMovementKind(1);
    savePlot(plots.value(1), QStringLiteral("distill_movement_zero.png"));
    window_->distillation()->setMovementKind(0);
    const QString panel = dir_.filePath(QStringLiteral("job_panel_distill.png"));
    if (window_->jobPanel()->grab().save(panel))
        written_ << panel;
    // The evaluation again: original, quantized and distilled.
    stage_ = 8;
    window_->tabs()->setCurrentWidget(window_->evaluation());
    if (!window_->evaluation()->start())
        fail(QStringLiteral("the evaluation of the distilled result did not start"));
}

void ScreenshotRunner::distilledEvaluationReady()
{
    if (finished_ || stage_ != 8)
        return;
    stage_ = 9;
    QApplication::processEvents();
    grabWindow(QStringLiteral("evaluation_distilled_window.png"));
    savePlot(window_->evaluation()->plots().value(0),
             QStringLiteral("evaluation_distilled_perplexity.png"));
    startExport();
}

void ScreenshotRunner::startExport()
{
    ExportDialog* dlg = window_->showExportDialog();
    if (!dlg) {
        fail(window_->lastError());
        return;
    }
    dlg->setFormat(QStringLiteral("packed"));
    dlg->setOutput(exportDir_.filePath(QStringLiteral("demo-2bit-packed")));
    connect(dlg, &ExportDialog::ended, this, &ScreenshotRunner::exportReady);
    if (!dlg->startExport())
        QTimer::singleShot(0, this, &ScreenshotRunner::exportReady);
}

void ScreenshotRunner::exportReady()
{
    if (finished_ || stage_ != 9)
        return;
    stage_ = 10;
    ExportDialog* dlg = window_->exportDialog();
    QApplication::processEvents();
    const QString path = dir_.filePath(QStringLiteral("export_dialog.png"));
    if (dlg && dlg->grab().save(path))
        written_ << path;
    if (dlg && !dlg->succeeded())
        std::fprintf(stderr, "zeropoint: the export did not succeed: %s\n",
                     qPrintable(dlg->reportText()));
    if (dlg)
        dlg->close();
    finished_ = true;
    std::printf("zeropoint: wrote %lld screenshots to %s\n",
                static_cast<long long>(written_.size()), qPrintable(dir_.absolutePath()));
    Q_EMIT done(0);
}

void ScreenshotRunner::grabWindow(const QString& name)
{
    const QString path = dir_.filePath(name);
    if (window_->grab().save(path))
        written_ << path;
    else
        std::fprintf(stderr, "zeropoint: could not write %s\n", qPrintable(path));
}

void ScreenshotRunner::savePlot(PlotView* plot, const QString& name)
{
    const QString path = dir_.filePath(name);
    if (plot && plot->save(path, 900, 560))
        written_ << path;
    else
        std::fprintf(stderr, "zeropoint: could not write %s\n", qPrintable(path));
}

void ScreenshotRunner::fail(const QString& why)
{
    if (finished_)
        return;
    finished_ = true;
    std::fprintf(stderr, "zeropoint: screenshots failed: %s\n", qPrintable(why));
    Q_EMIT done(1);
}
