#include "app/gui/exportdialog.h"
#include "app/gui/formrow.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "app/gui/backgroundtask.h"
#include "core/common/error.h"
#include "core/export/gguf_export.h"
#include "core/model/model.h"
#include "core/quant/gguf_presets.h"
#include "core/quant/kquant_search.h"

namespace {

const zp::exporter::FormatInfo* infoOf(const QString& name)
{
    for (const zp::exporter::FormatInfo& f : zp::exporter::formats())
        if (name == QLatin1String(f.name))
            return &f;
    return nullptr;
}

}  // namespace

ExportDialog::ExportDialog(ModelPtr model, QuantizedModelPtr quantized, QWidget* parent)
    : QDialog(parent), model_(std::move(model)), quantized_(std::move(quantized))
{
    qRegisterMetaType<zp::exporter::Report>();
    setWindowTitle(tr("Export the quantized model"));
    setObjectName(QStringLiteral("exportDialog"));
    task_ = new BackgroundTask(this);
    format_ = new QComboBox(this);
    format_->setObjectName(QStringLiteral("exportFormat"));
    for (const zp::exporter::FormatInfo& f : zp::exporter::formats()) {
        format_->addItem(QString::fromUtf8(f.name), QString::fromUtf8(f.name));
        format_->setItemData(format_->count() - 1, QString::fromUtf8(f.description),
                             Qt::ToolTipRole);
    }
    description_ = new QLabel(this);
    description_->setWordWrap(true);
    out_ = new QLineEdit(this);
    out_->setObjectName(QStringLiteral("exportOutput"));
    outBrowse_ = new QPushButton(tr("…"), this);
    outBrowse_->setMaximumWidth(32);
    connect(outBrowse_, &QPushButton::clicked, this, &ExportDialog::chooseOutput);
    tokenizer_ = new QLineEdit(this);
    tokenizer_->setObjectName(QStringLiteral("exportTokenizer"));
    tokBrowse_ = new QPushButton(tr("…"), this);
    tokBrowse_->setMaximumWidth(32);
    connect(tokBrowse_, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getOpenFileName(
            this, tr("Tokenizer"), tokenizer_->text(),
            tr("Tokenizers (*.json *.model *.bin *.gguf);;All files (*)"));
        if (!p.isEmpty())
            tokenizer_->setText(p);
    });
    dtype_ = new QComboBox(this);
    dtype_->setObjectName(QStringLiteral("exportDtype"));
    dtype_->addItems({QStringLiteral("f16"), QStringLiteral("bf16"), QStringLiteral("f32")});
    dtype_->setToolTip(
        tr("safetensors: the dtype of the dequantized weights (f16, bf16, f32); "
           "gptq: the tensors left in full precision (f16, bf16)"));
    embedding_ = new QComboBox(this);
    embedding_->setObjectName(QStringLiteral("exportEmbedding"));
    embedding_->addItems({QStringLiteral("f16"), QStringLiteral("q8_0")});
    embedding_->setToolTip(tr("GGUF: how the embedding and the classifier are stored"));
    preset_ = new QComboBox(this);
    preset_->setObjectName(QStringLiteral("exportPreset"));
    preset_->addItem(QStringLiteral("none"));
    for (const zp::gguf::PresetInfo& p : zp::gguf::presets())
        preset_->addItem(QString::fromStdString(p.name));
    preset_->setToolTip(
        tr("GGUF: a llama.cpp preset: every tensor in the type llama-quantize gives it (the "
           "session must come from a job with the same preset)"));
    predicted_ = new QLabel(this);
    predicted_->setObjectName(QStringLiteral("exportPredicted"));
    predicted_->setWordWrap(true);
    tensors_ = new QTableWidget(this);
    tensors_->setObjectName(QStringLiteral("exportTensors"));
    tensors_->setColumnCount(5);
    tensors_->setHorizontalHeaderLabels(
        {tr("tensor"), tr("type"), tr("bytes"), tr("loss Σh·dW²"), tr("why this type")});
    tensors_->horizontalHeader()->setStretchLastSection(true);
    tensors_->verticalHeader()->setVisible(false);
    tensors_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    tensors_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    tensors_->setMinimumHeight(160);
    if (quantized_) {
        auto it = quantized_->config.extra.find("preset");
        if (it != quantized_->config.extra.end() && it->second != "none")
            preset_->setCurrentText(QString::fromStdString(it->second));
    }
    connect(preset_, &QComboBox::currentTextChanged, this, &ExportDialog::updatePreset);
    name_ = new QLineEdit(this);
    name_->setPlaceholderText(tr("general.name (GGUF)"));
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1);
    bar_->setValue(0);
    stage_ = new QLabel(this);
    stage_->setWordWrap(true);
    report_ = new QPlainTextEdit(this);
    report_->setObjectName(QStringLiteral("exportReport"));
    report_->setReadOnly(true);
    report_->setPlaceholderText(tr("The export's summary and warnings appear here"));
    export_ = new QPushButton(tr("Export"), this);
    export_->setObjectName(QStringLiteral("exportStart"));
    export_->setDefault(true);
    cancel_ = new QPushButton(tr("Cancel export"), this);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    buttons->addButton(export_, QDialogButtonBox::ActionRole);
    buttons->addButton(cancel_, QDialogButtonBox::ActionRole);
    connect(buttons, &QDialogButtonBox::rejected, this, &ExportDialog::reject);
    connect(export_, &QPushButton::clicked, this, &ExportDialog::startExport);
    connect(cancel_, &QPushButton::clicked, task_, &BackgroundTask::cancel);

    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Format"), format_);
    form->addRow(QString(), description_);
    form->addRow(tr("Output"), withButton(this, out_, outBrowse_));
    form->addRow(tr("Tokenizer"), withButton(this, tokenizer_, tokBrowse_));
    form->addRow(tr("Dtype"), dtype_);
    form->addRow(tr("Embedding"), embedding_);
    form->addRow(tr("llama.cpp preset"), preset_);
    form->addRow(QString(), predicted_);
    form->addRow(tr("Name"), name_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(tensors_, 1);
    layout->addWidget(bar_);
    layout->addWidget(stage_);
    layout->addWidget(report_, 1);
    layout->addWidget(buttons);
    resize(760, 720);
    updatePreset();

    connect(format_, &QComboBox::currentIndexChanged, this, &ExportDialog::updateOptions);
    connect(task_, &BackgroundTask::runningChanged, this, &ExportDialog::updateOptions);
    connect(task_, &BackgroundTask::progress, this,
            [this](double done, double total, const QString& stage) {
                bar_->setRange(0, 1000);
                bar_->setValue(total > 0 ? static_cast<int>(1000.0 * done / total) : 0);
                stage_->setText(stage);
            });
    connect(task_, &BackgroundTask::finished, this, [this](const QVariant& v) {
        const auto r = v.value<zp::exporter::Report>();
        QString text = QString::fromStdString(r.summary).trimmed();
        text += tr("\n\nWrote %1 (%2 in %3 files).")
                    .arg(QString::fromStdString(r.path))
                    .arg(QLocale().formattedDataSize(static_cast<qint64>(r.bytes)))
                    .arg(r.files.size());
        if (!r.warnings.empty()) {
            text += tr("\n\nWarnings (%1):").arg(r.warnings.size());
            for (const std::string& w : r.warnings)
                text += QStringLiteral("\n  • ") + QString::fromStdString(w);
        } else {
            text += tr("\n\nNo warnings.");
        }
        report_->setPlainText(text);
        stage_->setText(tr("Done."));
        bar_->setRange(0, 1);
        bar_->setValue(1);
        succeeded_ = true;
        Q_EMIT exported(QString::fromStdString(r.path));
        Q_EMIT ended();
    });
    connect(task_, &BackgroundTask::cancelled, this, [this] {
        stage_->setText(tr("Cancelled: nothing was written."));
        bar_->setValue(0);
        Q_EMIT ended();
    });
    connect(task_, &BackgroundTask::failed, this, [this](const QString& e) {
        stage_->setText(tr("Failed: nothing was written."));
        report_->setPlainText(tr("Error: %1").arg(e));
        bar_->setValue(0);
        Q_EMIT failed(e);
        Q_EMIT ended();
    });
    const int packed = format_->findData(QStringLiteral("gguf"));
    format_->setCurrentIndex(packed < 0 ? 0 : packed);
    updateOptions();
}

void ExportDialog::setFormat(const QString& name)
{
    const int i = format_->findData(name);
    if (i >= 0)
        format_->setCurrentIndex(i);
}

QString ExportDialog::format() const
{
    return format_->currentData().toString();
}

void ExportDialog::setOutput(const QString& path)
{
    out_->setText(path);
}

void ExportDialog::setTokenizer(const QString& path)
{
    tokenizer_->setText(path);
}

bool ExportDialog::isRunning() const
{
    return task_->isRunning();
}

QString ExportDialog::reportText() const
{
    return report_->toPlainText();
}

void ExportDialog::updateOptions()
{
    const zp::exporter::FormatInfo* f = infoOf(format());
    const bool running = task_->isRunning();
    if (f) {
        description_->setText(QString::fromUtf8(f->description));
        tokenizer_->setPlaceholderText(
            f->needs_tokenizer ? tr("required") : tr("optional: copied beside the export"));
        out_->setPlaceholderText(f->writes_directory ? tr("a directory") : tr("a file"));
    }
    const QString n = format();
    dtype_->setEnabled(!running && (n == "safetensors" || n == "gptq"));
    embedding_->setEnabled(!running && n == "gguf" && preset_->currentText() == "none");
    preset_->setEnabled(!running && n == "gguf");
    predicted_->setVisible(n == "gguf");
    tensors_->setVisible(n == "gguf" && preset_->currentText() != "none");
    name_->setEnabled(!running && n == "gguf");
    for (QWidget* w :
         std::initializer_list<QWidget*>{format_, out_, outBrowse_, tokenizer_, tokBrowse_})
        w->setEnabled(!running);
    export_->setEnabled(!running);
    cancel_->setEnabled(running);
}

void ExportDialog::setPreset(const QString& name)
{
    const int i = preset_->findText(name);
    preset_->setCurrentIndex(i < 0 ? 0 : i);
}

void ExportDialog::updatePreset()
{
    const QString p = preset_->currentText();
    tensors_->setRowCount(0);
    if (p == "none") {
        predicted_->setText(tr("No preset: linears as Q4_1 / Q5_1 / Q8_0 by their bit width."));
        updateOptions();
        return;
    }
    zp::gguf::PresetPreview pv;
    try {
        if (!model_ || !model_->hasWeights())
            throw zp::InvalidArgument("the model is not available");
        // Headers only: the config the plan needs.
        const std::unique_ptr<zp::model::Model> engine = model_->openEngine();
        pv = zp::gguf::preview_preset(engine->config(), quantized_.get(), p.toStdString());
    } catch (const std::exception& e) {
        pv.error = e.what();
    }
    if (!pv.error.empty()) {
        predicted_->setText(tr("Cannot export as %1: %2").arg(p, QString::fromStdString(pv.error)));
        updateOptions();
        return;
    }
    double loss = 0.0;
    int fromSession = 0;
    tensors_->setRowCount(static_cast<int>(pv.rows.size()));
    for (int r = 0; r < static_cast<int>(pv.rows.size()); ++r) {
        const auto& row = pv.rows[static_cast<size_t>(r)];
        const char* tn = zp::gguf::tensor_type_traits(static_cast<uint32_t>(row.type)).name;
        auto* bytes = new QTableWidgetItem(QLocale().toString(static_cast<qulonglong>(row.bytes)));
        bytes->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        const bool quantized = zp::quant::kquant_supported(row.type);
        auto* l = new QTableWidgetItem(row.from_session ? QString::number(row.loss, 'g', 4)
                                       : quantized      ? tr("data-free at export")
                                                        : QStringLiteral("—"));
        l->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        tensors_->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(row.name)));
        tensors_->setItem(r, 1, new QTableWidgetItem(QString::fromUtf8(tn ? tn : "?")));
        tensors_->setItem(r, 2, bytes);
        tensors_->setItem(r, 3, l);
        tensors_->setItem(r, 4, new QTableWidgetItem(QString::fromStdString(row.rule)));
        if (row.from_session) {
            loss += row.loss;
            ++fromSession;
        }
    }
    tensors_->resizeColumnsToContents();
    predicted_->setText(tr("%1: %2 of tensor data (%3 bytes; the file adds its metadata), "
                           "%4 tensors, %5 from the session (loss Σh·dW² %6)")
                            .arg(QString::fromStdString(pv.preset))
                            .arg(QLocale().formattedDataSize(static_cast<qint64>(pv.data_bytes)))
                            .arg(QLocale().toString(static_cast<qulonglong>(pv.data_bytes)))
                            .arg(pv.rows.size())
                            .arg(fromSession)
                            .arg(loss, 0, 'g', 4));
    updateOptions();
}

void ExportDialog::chooseOutput()
{
    const zp::exporter::FormatInfo* f = infoOf(format());
    QString p;
    if (f && f->writes_directory)
        p = QFileDialog::getExistingDirectory(this, tr("Export directory"), out_->text());
    else
        p = QFileDialog::getSaveFileName(this, tr("Export file"), out_->text());
    if (!p.isEmpty())
        out_->setText(p);
}

bool ExportDialog::startExport()
{
    if (task_->isRunning())
        return false;
    succeeded_ = false;
    const zp::exporter::FormatInfo* f = infoOf(format());
    auto refuse = [this](const QString& why) {
        report_->setPlainText(tr("Error: %1").arg(why));
        Q_EMIT failed(why);
        return false;
    };
    if (!f)
        return refuse(tr("unknown format %1").arg(format()));
    if (!quantized_)
        return refuse(tr("nothing to export: run a job or open a session first"));
    if (out_->text().trimmed().isEmpty())
        return refuse(tr("choose an output path"));
    if (f->needs_tokenizer && tokenizer_->text().trimmed().isEmpty())
        return refuse(tr("the %1 format needs a tokenizer file").arg(format()));
    if (f->needs_model && (!model_ || !model_->hasWeights()))
        return refuse(
            tr("the %1 format needs the original model, which is not available").arg(format()));
    zp::exporter::Options o;
    o.format = f->format;
    o.out = out_->text().trimmed().toStdString();
    o.tokenizer = tokenizer_->text().trimmed().toStdString();
    o.dtype = dtype_->currentText().toStdString();
    o.gguf_embedding = embedding_->currentText().toStdString();
    if (f->format == zp::exporter::Format::Gguf && preset_->currentText() != "none")
        o.gguf_preset = preset_->currentText().toStdString();
    o.name = name_->text().trimmed().toStdString();
    const bool needsModel = f->needs_model;
    ModelPtr model = model_;
    QuantizedModelPtr qm = quantized_;
    report_->clear();
    stage_->setText(tr("Exporting…"));
    bar_->setRange(0, 0);
    return task_->start([o, needsModel, model, qm](const zp::ProgressFn& progress) mutable {
        std::unique_ptr<zp::model::Model> engine;
        if (needsModel || (model && model->hasWeights()))
            engine = model->openEngine();
        o.progress = progress;
        return QVariant::fromValue(zp::exporter::export_quantized(engine.get(), *qm, o));
    });
}

void ExportDialog::reject()
{
    if (task_->isRunning()) {
        task_->cancel();
        task_->wait();
    }
    QDialog::reject();
}
