// `zeropoint --demo --screenshots DIR`: opens the demo, runs a short calibrated GPTQ job, renders
// every main view (overview, each inspector plot, the playground, the evaluation tab), then
// distils the result (the Distillation tab, its plots, the evaluation with the distilled entry,
// the job panel's Distill page) and opens the export dialog, as PNG files in DIR; reports
// done(exitCode). The Outliers tab is rendered for the layer with the most clipped super-weights.
// For the real demo (setRealDemo) its default job and the evaluation on sampled text. For another
// model, --calib TEXT (and --tokenizer) give the calibration and
// evaluation text; without them the job is data-free and the evaluation and distillation are
// skipped.
#pragma once

#include <QDir>
#include <QObject>
#include <QStringList>
#include <QTemporaryDir>

#include "app/gui/jobtypes.h"

class MainWindow;
class PlotView;

class ScreenshotRunner : public QObject {
    Q_OBJECT
public:
    // model: "demo" or a path the engine opens (then the job is channel-wise, which fits any
    // width).
    ScreenshotRunner(MainWindow* window, const QString& dir,
                     const QString& model = QStringLiteral("demo"),
                     const QString& tokenizer = QString(), const QString& calib = QString(),
                     QObject* parent = nullptr);
    // The model is the real demo (MainWindow::openRealDemo): its default job, the evaluation on
    // text sampled from the model, no distillation (minutes on two cores).
    void setRealDemo(bool on) { realDemo_ = on; }
    void start();
    const QStringList& written() const { return written_; }

Q_SIGNALS:
    void done(int exitCode);

private:
    void jobFinished();
    void inspectorReady();
    void outliersReady();
    void playgroundReady();
    void manualReady();
    void evaluationReady();
    void distillReady();
    void distilledEvaluationReady();
    void startExport();
    void exportReady();
    void grabWindow(const QString& name);
    void savePlot(PlotView* plot, const QString& name);
    void fail(const QString& why);

    MainWindow* window_;
    QDir dir_;
    QString model_, tokenizer_, calib_;
    QStringList written_;
    int layer_ = -1;
    int outliersLayer_ = -1;
    int stage_ = 0;
    bool finished_ = false;
    bool realDemo_ = false;
    QTemporaryDir exportDir_;
};
