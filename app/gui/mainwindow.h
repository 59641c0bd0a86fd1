// The workbench window: model browser and job panel in docks, the overview, the layer inspector,
// the playground, the evaluation, the activations and the distillation as tabs, a status bar
// (device, memory, job state) and a message bar for errors. Settings (layout, job settings, recent
// files, playground) live in one QSettings, read here and written on close.
#pragma once

#include <QMainWindow>

#include <vector>

#include "app/gui/jobcontroller.h"
#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QLabel;
class QMenu;
class QTabWidget;
class QTextBrowser;
class QTimer;
class ModelBrowser;
class JobPanel;
class OverviewView;
class InspectorView;
class PlaygroundView;
class EvalView;
class ActivationsView;
class DistillView;
class OutliersView;
class ExportDialog;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    ModelPtr model() const { return model_; }
    JobController* jobController() const { return jobs_; }
    JobPanel* jobPanel() const { return jobPanel_; }
    ModelBrowser* modelBrowser() const { return browser_; }
    OverviewView* overview() const { return overview_; }
    InspectorView* inspector() const { return inspector_; }
    PlaygroundView* playground() const { return playground_; }
    EvalView* evaluation() const { return eval_; }
    ActivationsView* activations() const { return activations_; }
    DistillView* distillation() const { return distill_; }
    OutliersView* outliers() const { return outliers_; }
    ExportDialog* exportDialog() const { return exportDialog_; }
    QuantizedModelPtr quantized() const { return quantized_; }
    // The result the current one was distilled from in this window (null: not distilled here).
    QuantizedModelPtr undistilled() const { return undistilled_; }
    QString statusText() const;  // the status bar's device and memory labels
    QTabWidget* tabs() const { return tabs_; }
    QString lastError() const { return lastError_; }

public Q_SLOTS:
    bool openDemo();
    bool openModel(const QString& path);  // "demo" opens the built-in demo
    // The real demo (packaging/setup.sh demo): the GGUF model at `gguf` (SmolLM2-135M-Instruct)
    // with the demo's default job in the job panel. When it cannot be opened, the built-in
    // synthetic demo instead, saying so in the window and on stderr; false only if neither opens.
    bool openRealDemo(const QString& gguf);
    // File > Open real demo: the SmolLM2 GGUF where setup.sh demo caches it (cachedRealDemoPath);
    // when it is not there, says how to fetch it and opens nothing.
    bool openCachedRealDemo();
    // The built-in synthetic demo, with a note in the window saying why the real one is not
    // there (`why`: e.g. the model could not be fetched).
    bool openDemoFallback(const QString& why);
    QString modelNote() const;  // the visible description of the open model
    bool startJob();
    // NeUQI's lightweight distillation of the current result (Job panel, Distill page); the
    // trained result becomes the current one when it finishes. False (message) when it cannot
    // start.
    bool startDistill();
    void cancelJob();
    void inspectLayer(int layer);
    void showError(const QString& message);
    void exportTable();
    // A session file (.h5): the per-layer figures of a saved run; its model is reopened when the
    // path it names exists. False (message in the window) on any error; nothing is lost.
    bool openSession(const QString& path);
    // Writes the current run (atomically, through core/export/session). False on error.
    bool saveSession(const QString& path);
    // The export dialog for the current run (non-modal; nullptr when there is nothing to export).
    ExportDialog* showExportDialog();
    void showInfo(const QString& message);

protected:
    void closeEvent(QCloseEvent* e) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void createActions();
    void setModel(ModelPtr model);
    void setQuantized(QuantizedModelPtr qm);
    void showQuantizedModel(const zp::quant::QuantizedModel& qm);
    void restorePreviousResults();
    void distillFinished(const DistillOutcomePtr& outcome);
    void updateDistillAvailability();
    void openRecent(const QString& path);
    void addRecent(const QString& path);
    void updateRecentMenu();
    void updateStatus();
    void showGuide();
    void showAbout();
    void readSettings();
    void writeSettings();

    ModelPtr model_;
    JobController* jobs_ = nullptr;
    ModelBrowser* browser_ = nullptr;
    JobPanel* jobPanel_ = nullptr;
    OverviewView* overview_ = nullptr;
    InspectorView* inspector_ = nullptr;
    PlaygroundView* playground_ = nullptr;
    EvalView* eval_ = nullptr;
    ActivationsView* activations_ = nullptr;
    DistillView* distill_ = nullptr;
    OutliersView* outliers_ = nullptr;
    QTextBrowser* modelNote_ = nullptr;
    ExportDialog* exportDialog_ = nullptr;
    QuantizedModelPtr quantized_, previousQuantized_, undistilled_;
    std::vector<LayerResult> previousResults_;
    QString sessionPath_;
    QTabWidget* tabs_ = nullptr;
    QLabel* messageBar_ = nullptr;
    QLabel* deviceLabel_ = nullptr;
    QLabel* memoryLabel_ = nullptr;
    QLabel* stateLabel_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QStringList recent_;
    QString lastError_;
    QString shownKernelWarnings_;  // kernels::kernel_warnings() already shown
    QTimer* statusTimer_ = nullptr;
};
