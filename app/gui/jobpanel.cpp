#include "app/gui/jobpanel.h"

#include <cmath>
#include <limits>

#include "app/gui/formrow.h"

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <ATen/Context.h>

#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"

QStringList availableDevices()
{
    QStringList d{QStringLiteral("cpu")};
    if (at::hasCUDA())
        for (size_t i = 0; i < at::getNumGPUs(); ++i)
            d << QStringLiteral("cuda:%1").arg(i);
    return d;
}

namespace {

// A spin box's range from the run-options table (clamped to what a QSpinBox holds).
void setRangeFromTable(QSpinBox* box, const char* option)
{
    const zp::pipeline::RunOptionSpec& spec = zp::pipeline::run_option_spec(option);
    const double hi = std::min<double>(spec.max, std::numeric_limits<int>::max());
    box->setRange(static_cast<int>(spec.min), static_cast<int>(hi));
    box->setToolTip(QString::fromUtf8(spec.help));
    box->setObjectName(QString::fromUtf8(option));  // the table's name (tests look it up)
}

void setRangeFromTable(QDoubleSpinBox* box, const char* option, int decimals)
{
    const zp::pipeline::RunOptionSpec& spec = zp::pipeline::run_option_spec(option);
    box->setDecimals(decimals);
    box->setRange(spec.min, spec.max);
    box->setSingleStep(std::pow(10.0, -std::min(decimals, 2)));
    box->setToolTip(QStringLiteral("%1 (%2)").arg(QString::fromUtf8(spec.help),
                                                  QString::fromStdString(range_text(spec))));
    box->setObjectName(QString::fromUtf8(option));
}

// A combo box of a Text option's choices (data: the choice), named after the option.
void setChoicesFromTable(QComboBox* box, const char* option)
{
    const zp::pipeline::RunOptionSpec& spec = zp::pipeline::run_option_spec(option);
    for (const std::string& c : spec.choices)
        box->addItem(QString::fromStdString(c), QString::fromStdString(c));
    box->setToolTip(QString::fromUtf8(spec.help));
    box->setObjectName(QString::fromUtf8(option));
}

}  // namespace

JobPanel::JobPanel(QWidget* parent) : QWidget(parent)
{
    method_ = new QComboBox(this);
    method_->setObjectName(QStringLiteral("jobMethod"));
    for (const zp::pipeline::PipelineMethod& m : zp::pipeline::pipeline_methods()) {
        method_->addItem(QString::fromUtf8(m.label), QString::fromUtf8(m.name));
        method_->setItemData(method_->count() - 1,
                             QStringLiteral("%1: %2").arg(
                                 QString::fromUtf8(m.name),
                                 QString::fromUtf8(zp::quant::method_info(m.params).description)),
                             Qt::ToolTipRole);
    }
    method_->setToolTip(
        tr("The algorithm (RTN or GPTQ) and how the scale and zero-point of every "
           "group are chosen"));
    bits_ = new QSpinBox(this);
    bits_->setObjectName(QStringLiteral("jobBits"));
    setRangeFromTable(bits_, "bits");
    bits_->setToolTip(tr("Bits per weight (2..8): 2^bits quantization levels"));
    group_ = new QComboBox(this);
    group_->setObjectName(QStringLiteral("jobGroup"));
    group_->addItem(tr("channel-wise (whole row)"), -1);
    for (int g : {32, 64, 128, 256})
        group_->addItem(tr("groups of %1 columns").arg(g), g);
    group_->setToolTip(
        tr("Parameters per output row (channel-wise) or per group of consecutive input columns"));

    calib_ = new QLineEdit(this);
    calib_->setObjectName(QStringLiteral("jobCalibration"));
    calib_->setClearButtonEnabled(true);
    calib_->setToolTip(
        tr("Calibration text (.txt), C4-style JSON lines (.jsonl) or token ids "
           "(.ids); empty: the demo's text sampled from the model"));
    calibBrowse_ = new QPushButton(tr("…"), this);
    calibBrowse_->setToolTip(tr("Choose a calibration file"));
    calibBrowse_->setMaximumWidth(32);
    connect(calibBrowse_, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getOpenFileName(
            this, tr("Calibration data"), calib_->text(),
            tr("Calibration data (*.txt *.raw *.jsonl *.json *.ids *.tokens);;All files (*)"));
        if (!p.isEmpty())
            calib_->setText(p);
    });
    calibFormat_ = new QComboBox(this);
    calibFormat_->setObjectName(QStringLiteral("jobCalibFormat"));
    calibFormat_->addItem(tr("by file name"), QStringLiteral("auto"));
    calibFormat_->addItem(tr("plain text"), QStringLiteral("text"));
    calibFormat_->addItem(tr("JSON lines (C4)"), QStringLiteral("jsonl"));
    calibFormat_->addItem(tr("token ids"), QStringLiteral("ids"));
    calibFormat_->setToolTip(tr("How the calibration file is read"));
    nsamples_ = new QSpinBox(this);
    nsamples_->setObjectName(QStringLiteral("jobSamples"));
    setRangeFromTable(nsamples_, "nsamples");
    nsamples_->setToolTip(tr("N: calibration sequences"));
    seqlen_ = new QSpinBox(this);
    seqlen_->setObjectName(QStringLiteral("jobSeqlen"));
    setRangeFromTable(seqlen_, "seqlen");
    seqlen_->setToolTip(tr("L: tokens per calibration sequence"));
    seed_ = new QSpinBox(this);
    seed_->setObjectName(QStringLiteral("jobSeed"));
    setRangeFromTable(seed_, "seed");
    seed_->setToolTip(tr("Seed of the calibration draw (windows, and the demo's sampled text)"));
    tokenizer_ = new QLineEdit(this);
    tokenizer_->setObjectName(QStringLiteral("jobTokenizer"));
    tokenizer_->setClearButtonEnabled(true);
    tokenizer_->setPlaceholderText(tr("the model's own"));
    tokenizer_->setToolTip(
        tr("tokenizer.json, a SentencePiece .model or a llama2.c tokenizer.bin; "
           "empty: the one beside the model (or the demo's)"));
    tokBrowse_ = new QPushButton(tr("…"), this);
    tokBrowse_->setMaximumWidth(32);
    tokBrowse_->setToolTip(tr("Choose a tokenizer"));
    connect(tokBrowse_, &QPushButton::clicked, this, [this] {
        QString p =
            QFileDialog::getOpenFileName(this, tr("Tokenizer"), tokenizer_->text(),
                                         tr("Tokenizers (*.json *.model *.bin);;All files (*)"));
        if (!p.isEmpty())
            tokenizer_->setText(p);
    });
    device_ = new QComboBox(this);
    device_->setObjectName(QStringLiteral("jobDevice"));
    device_->addItems(availableDevices());
    device_->setToolTip(
        tr("Where the pipeline runs: the CPU, or a CUDA device this libtorch sees"));
    // The activation side (RUQuant and its baselines).
    wclip_ = new QDoubleSpinBox(this);
    setRangeFromTable(wclip_, "wclip", 2);
    abits_ = new QSpinBox(this);
    setRangeFromTable(abits_, "abits");
    abits_->setSuffix(tr(" bits"));
    aclip_ = new QDoubleSpinBox(this);
    setRangeFromTable(aclip_, "aclip", 2);
    aclip_->setPrefix(tr("clip "));
    transform_ = new QComboBox(this);
    transform_->setObjectName(QStringLiteral("transform"));
    for (const zp::quant::TransformKindInfo& k : zp::quant::transform_kinds()) {
        transform_->addItem(QString::fromUtf8(k.label), QString::fromUtf8(k.name));
        transform_->setItemData(transform_->count() - 1,
                                QStringLiteral("%1: %2").arg(QString::fromUtf8(k.name),
                                                             QString::fromUtf8(k.description)),
                                Qt::ToolTipRole);
    }
    transform_->setToolTip(QString::fromUtf8(zp::pipeline::run_option_spec("transform").help));
    alpha_ = new QDoubleSpinBox(this);
    setRangeFromTable(alpha_, "alpha", 2);
    alpha_->setPrefix(QStringLiteral("α "));
    rotBlock_ = new QSpinBox(this);
    setRangeFromTable(rotBlock_, "rot_block");
    rotBlock_->setSpecialValueText(tr("auto"));
    rotBlock_->setPrefix(tr("block "));
    givens_ = new QComboBox(this);
    setChoicesFromTable(givens_, "givens");
    for (QWidget* w : std::initializer_list<QWidget*>{
             method_, bits_, group_, seed_, device_, nsamples_, seqlen_, calibFormat_, wclip_,
             abits_, aclip_, transform_, alpha_, rotBlock_, givens_})
        w->setMinimumWidth(60);
    connect(transform_, &QComboBox::currentIndexChanged, this, &JobPanel::updateTransformControls);
    connect(abits_, &QSpinBox::valueChanged, this, &JobPanel::updateTransformControls);
    for (QDoubleSpinBox* b : {wclip_, aclip_, alpha_})
        connect(b, &QDoubleSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    for (QSpinBox* b : {abits_, rotBlock_})
        connect(b, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    for (QComboBox* b : {transform_, givens_})
        connect(b, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(method_, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(bits_, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    connect(group_, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(seed_, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    connect(device_, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(calib_, &QLineEdit::textChanged, this, [this] {
        updateCalibrationHint();
        Q_EMIT settingsChanged();
    });
    connect(method_, &QComboBox::currentIndexChanged, this, &JobPanel::updateCalibrationHint);
    connect(tokenizer_, &QLineEdit::textChanged, this, &JobPanel::settingsChanged);
    connect(calibFormat_, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(nsamples_, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    connect(seqlen_, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);

    start_ = new QPushButton(tr("Start"), this);
    start_->setObjectName(QStringLiteral("jobStart"));
    start_->setToolTip(tr("Quantize every layer of the model (F5)"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("jobCancel"));
    cancel_->setToolTip(tr("Stop the run: nothing is written, the previous results stay (Esc)"));
    connect(start_, &QPushButton::clicked, this, &JobPanel::startRequested);
    connect(cancel_, &QPushButton::clicked, this, &JobPanel::cancelRequested);
    bar_ = new QProgressBar(this);
    bar_->setObjectName(QStringLiteral("jobProgress"));
    bar_->setRange(0, 1);
    bar_->setValue(0);
    where_ = new QLabel(tr("Idle"), this);
    where_->setWordWrap(true);
    stage_ = new QLabel(this);
    stage_->setObjectName(QStringLiteral("jobStage"));
    stage_->setWordWrap(true);
    eta_ = new QLabel(this);
    log_ = new QPlainTextEdit(this);
    log_->setObjectName(QStringLiteral("jobLog"));
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(5000);
    log_->setPlaceholderText(tr("The job log"));

    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Method"), method_);
    form->addRow(tr("Bits"), bits_);
    form->addRow(tr("Groups"), group_);
    form->addRow(tr("Calibration"), withButton(this, calib_, calibBrowse_));
    form->addRow(tr("Format"), calibFormat_);
    auto* nl = new QWidget(this);
    auto* nll = new QHBoxLayout(nl);
    nll->setContentsMargins(0, 0, 0, 0);
    nll->addWidget(nsamples_, 1);
    nll->addWidget(new QLabel(QStringLiteral("×"), nl));
    nll->addWidget(seqlen_, 1);
    form->addRow(tr("N × L"), nl);
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Tokenizer"), withButton(this, tokenizer_, tokBrowse_));
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Weight clip"), wclip_);
    auto* act = new QWidget(this);
    auto* al = new QHBoxLayout(act);
    al->setContentsMargins(0, 0, 0, 0);
    al->addWidget(abits_, 1);
    al->addWidget(aclip_, 1);
    form->addRow(tr("Activations"), act);
    form->addRow(tr("Transform"), transform_);
    auto* rot = new QWidget(this);
    auto* rl = new QHBoxLayout(rot);
    rl->setContentsMargins(0, 0, 0, 0);
    rl->addWidget(alpha_, 1);
    rl->addWidget(rotBlock_, 1);
    rl->addWidget(givens_, 1);
    form->addRow(tr("Rotations"), rot);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(start_);
    buttons->addWidget(cancel_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(buttons);
    layout->addWidget(bar_);
    layout->addWidget(where_);
    layout->addWidget(stage_);
    layout->addWidget(eta_);
    layout->addWidget(log_, 1);
    setSettings(JobSettings());
    setState(JobController::State::Idle);
}

void JobPanel::updateCalibrationHint()
{
    const bool gptq = method_->currentData().toString().startsWith(QLatin1String("gptq"));
    const bool needsData = gptq || transform_->currentData().toString() != QLatin1String("none");
    calib_->setPlaceholderText(demo_ ? tr("demo: sampled text")
                                     : (needsData ? tr("required for GPTQ and transforms")
                                                  : tr("none: data-free RTN (h = 1)")));
}

void JobPanel::updateTransformControls()
{
    const QString kind = transform_->currentData().toString();
    const bool idle = state_ == JobController::State::Idle;
    aclip_->setEnabled(idle && abits_->value() < 16);
    alpha_->setEnabled(idle && kind != QLatin1String("none"));
    rotBlock_->setEnabled(idle &&
                          (kind == QLatin1String("duquant") || kind == QLatin1String("ruquant")));
    givens_->setEnabled(idle && kind == QLatin1String("ruquant"));
    updateCalibrationHint();
}

JobSettings JobPanel::settings() const
{
    JobSettings s = base_;  // what the panel has no widget for stays as set
    s.setPipeline(method_->currentData().toString());
    s.bits = bits_->value();
    s.groupSize = group_->currentData().toInt();
    s.seed = static_cast<uint64_t>(seed_->value());
    s.device = device_->currentText();
    s.calibPath = calib_->text().trimmed();
    s.calibFormat = calibFormat_->currentData().toString();
    s.nsamples = nsamples_->value();
    s.seqlen = seqlen_->value();
    s.tokenizer = tokenizer_->text().trimmed();
    s.wclip = wclip_->value();
    s.abits = abits_->value();
    s.aclip = aclip_->value();
    s.transform = transform_->currentData().toString();
    s.alpha = alpha_->value();
    s.rotBlock = rotBlock_->value();
    s.givens = givens_->currentData().toString();
    return s;
}

void JobPanel::setSettings(const JobSettings& s)
{
    base_ = s;
    int m = method_->findData(s.pipeline);
    method_->setCurrentIndex(m < 0 ? 0 : m);
    bits_->setValue(s.bits);
    int g = group_->findData(static_cast<int>(s.groupSize));
    group_->setCurrentIndex(g < 0 ? 0 : g);
    seed_->setValue(static_cast<int>(s.seed));
    int d = device_->findText(s.device);
    device_->setCurrentIndex(d < 0 ? 0 : d);
    calib_->setText(s.calibPath);
    int f = calibFormat_->findData(s.calibFormat);
    calibFormat_->setCurrentIndex(f < 0 ? 0 : f);
    nsamples_->setValue(s.nsamples);
    seqlen_->setValue(s.seqlen);
    tokenizer_->setText(s.tokenizer);
    wclip_->setValue(s.wclip);
    abits_->setValue(s.abits);
    aclip_->setValue(s.aclip);
    int t = transform_->findData(s.transform);
    transform_->setCurrentIndex(t < 0 ? 0 : t);
    alpha_->setValue(s.alpha);
    rotBlock_->setValue(static_cast<int>(s.rotBlock));
    int gv = givens_->findData(s.givens);
    givens_->setCurrentIndex(gv < 0 ? 0 : gv);
    updateTransformControls();
}

void JobPanel::setModelLoaded(bool loaded, bool demo)
{
    modelLoaded_ = loaded;
    demo_ = demo;
    updateCalibrationHint();
    setState(state_);
}

void JobPanel::setState(JobController::State state)
{
    state_ = state;
    const bool idle = state == JobController::State::Idle;
    start_->setEnabled(idle && modelLoaded_);
    cancel_->setEnabled(state == JobController::State::Running);
    for (QWidget* w : std::initializer_list<QWidget*>{
             method_, bits_, group_, seed_, device_, calib_, calibBrowse_, calibFormat_, nsamples_,
             seqlen_, tokenizer_, tokBrowse_, wclip_, abits_, transform_})
        w->setEnabled(idle);
    updateTransformControls();
    if (state == JobController::State::Cancelling)
        where_->setText(tr("Cancelling…"));
    else if (idle && !modelLoaded_)
        where_->setText(tr("Open a model (File > Open demo model) to start"));
    else if (idle && where_->text() == tr("Open a model (File > Open demo model) to start"))
        where_->setText(tr("Ready: Start (F5) quantizes the model"));
}

void JobPanel::setProgress(const JobProgress& p)
{
    bar_->setRange(0, std::max(1, p.layerCount));
    bar_->setValue(p.layersDone);
    if (p.layerName.isEmpty())
        where_->setText(p.layersDone >= p.layerCount && p.layerCount > 0
                            ? tr("Done: %1 layers").arg(p.layersDone)
                            : tr("Preparing…"));
    else
        where_->setText(tr("Block %1/%2, layer %3/%4: %5")
                            .arg(p.block + 1)
                            .arg(p.blockCount)
                            .arg(p.layersDone + 1)
                            .arg(p.layerCount)
                            .arg(p.layerName));
    stage_->setText(p.stage.isEmpty() ? QString() : tr("Stage: %1").arg(p.stage));
    eta_->setText(
        tr("Elapsed %1, ETA %2")
            .arg(formatSeconds(p.elapsed), p.eta < 0 ? tr("estimating…") : formatSeconds(p.eta)));
}

void JobPanel::appendLog(const QString& line)
{
    log_->appendPlainText(QStringLiteral("[%1] %2").arg(
        QTime::currentTime().toString(QStringLiteral("HH:mm:ss")), line));
}

QString JobPanel::logText() const
{
    return log_->toPlainText();
}

QString JobPanel::stageText() const
{
    return stage_->text();
}
