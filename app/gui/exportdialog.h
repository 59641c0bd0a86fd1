// File > Export…: the formats of core/export/exporter.h (GGUF, imatrix, safetensors, packed,
// GPTQ),
// the output path, the tokenizer and the dtype / embedding options; the export runs on a
// BackgroundTask with progress and shows the engine's report (summary and warnings).
#pragma once

#include <QDialog>
#include <QMetaType>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"
#include "core/export/exporter.h"

class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;
class BackgroundTask;

Q_DECLARE_METATYPE(zp::exporter::Report)

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    ExportDialog(ModelPtr model, QuantizedModelPtr quantized, QWidget* parent = nullptr);

    void setFormat(const QString& name);  // a name of zp::exporter::formats()
    QString format() const;
    void setOutput(const QString& path);
    void setTokenizer(const QString& path);
    void setPreset(const QString& name);  // "none" or a preset name
    bool startExport();  // false (with the reason in the report box) when it cannot start
    bool isRunning() const;
    QString reportText() const;
    bool succeeded() const { return succeeded_; }

Q_SIGNALS:
    void exported(const QString& path);
    void failed(const QString& message);
    void ended();  // finished, cancelled or failed

protected:
    void reject() override;  // Close while running cancels first

private:
    void updateOptions();
    void updatePreset();  // the predicted size and the per-tensor table of the chosen preset
    void chooseOutput();

    ModelPtr model_;
    QuantizedModelPtr quantized_;
    BackgroundTask* task_ = nullptr;
    QComboBox* format_ = nullptr;
    QLabel* description_ = nullptr;
    QLineEdit* out_ = nullptr;
    QPushButton* outBrowse_ = nullptr;
    QLineEdit* tokenizer_ = nullptr;
    QPushButton* tokBrowse_ = nullptr;
    QComboBox* dtype_ = nullptr;
    QComboBox* embedding_ = nullptr;
    QComboBox* preset_ = nullptr;      // gguf: none or a llama.cpp preset
    QLabel* predicted_ = nullptr;      // the preset file's predicted size, or why it is refused
    QTableWidget* tensors_ = nullptr;  // the preset's tensors: type, bytes, loss
    QLineEdit* name_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QLabel* stage_ = nullptr;
    QPlainTextEdit* report_ = nullptr;
    QPushButton* export_ = nullptr;
    QPushButton* cancel_ = nullptr;
    bool succeeded_ = false;
};
