// The evaluation tab: perplexity of the original and the quantized model on a chosen text file
// (or, for the demo, text sampled from the demo model) as a bar chart, and greedy text from both
// for one prompt side by side. When the current result was distilled here, a third entry: the
// result before distillation ("quantized") and after ("distilled"), on the same windows. Runs on a
// BackgroundTask with progress and cancel; the numbers come from core/eval/compare.h.
#pragma once

#include <QMetaType>
#include <QWidget>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class BackgroundTask;
class PerplexityPlot;
class PlotView;

struct EvalSettings {
    QString textPath;   // empty: the demo's sampled text (demo only)
    QString tokenizer;  // empty: the model's own
    QString device = QStringLiteral("cpu");
    int window = 128;  // L
    int windows = 8;   // at most this many windows
    QString prompt;
    int steps = 48;
};

struct EvalResult {
    double pplOriginal = 0.0, pplQuantized = 0.0;
    int64_t windows = 0, window = 0;
    QString what;  // "demo text" or the file name
    QString prompt, textOriginal, textQuantized;
    bool hasDistilled = false;  // pplQuantized / textQuantized: before distillation
    double pplDistilled = 0.0;
    QString textDistilled;
};
Q_DECLARE_METATYPE(EvalResult)

class EvalView : public QWidget {
    Q_OBJECT
public:
    explicit EvalView(QWidget* parent = nullptr);

    // undistilled: the result `quantized` was distilled from (null: quantized is a plain run).
    void setInputs(ModelPtr model, QuantizedModelPtr quantized,
                   QuantizedModelPtr undistilled = nullptr);
    void setTokenizer(const QString& path) { tokenizer_ = path; }
    void setDevice(const QString& device) { device_ = device; }
    EvalSettings settings() const;
    void setSettings(const EvalSettings& s);
    bool start();
    void cancel();
    bool isRunning() const;
    const EvalResult& result() const { return result_; }
    bool hasResult() const { return hasResult_; }
    QList<PlotView*> plots() const;

Q_SIGNALS:
    void finished();
    void failed(const QString& message);

private:
    void updateEnabled();
    void show(const EvalResult& r);

    ModelPtr model_;
    QuantizedModelPtr quantized_, undistilled_;
    QString tokenizer_, device_ = QStringLiteral("cpu");
    BackgroundTask* task_ = nullptr;
    QLineEdit* text_ = nullptr;
    QPushButton* browse_ = nullptr;
    QSpinBox* window_ = nullptr;
    QSpinBox* windows_ = nullptr;
    QLineEdit* prompt_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QPushButton* start_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* stage_ = nullptr;
    QLabel* summary_ = nullptr;
    PerplexityPlot* plot_ = nullptr;
    QPlainTextEdit* original_ = nullptr;
    QPlainTextEdit* quantizedText_ = nullptr;
    QPlainTextEdit* distilledText_ = nullptr;
    QWidget* distilledBox_ = nullptr;
    QWidget* quantizedBox_ = nullptr;
    EvalResult result_;
    bool hasResult_ = false;
};
