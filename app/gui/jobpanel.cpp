#include "app/gui/jobpanel.h"

#include <cmath>
#include <limits>

#include "app/gui/formrow.h"

#include <QCheckBox>
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
#include <QTabWidget>
#include <QVBoxLayout>

#include <ATen/Context.h>

#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"
#include "core/quant/gguf_presets.h"

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
        QString p = QFileDialog::getOpenFileName(
            this, tr("Tokenizer"), tokenizer_->text(),
            tr("Tokenizers (*.json *.model *.bin *.gguf);;All files (*)"));
        if (!p.isEmpty())
            tokenizer_->setText(p);
    });
    device_ = new QComboBox(this);
    device_->setObjectName(QStringLiteral("jobDevice"));
    device_->addItems(availableDevices());
    device_->setToolTip(
        tr("Where the pipeline runs: the CPU, or a CUDA device this libtorch sees"));
    // Super-weight protection of the NeUQI searches: the table's grammar (off, auto, all, or a
    // number of standard deviations), so an editable list.
    protect_ = new QComboBox(this);
    protect_->setObjectName(QStringLiteral("protect"));
    protect_->setEditable(true);
    protect_->addItems({QStringLiteral("auto"), QStringLiteral("off"), QStringLiteral("all"),
                        QStringLiteral("10")});
    protect_->setToolTip(QString::fromUtf8(zp::pipeline::run_option_spec("protect").help));
    connect(protect_, &QComboBox::currentTextChanged, this, &JobPanel::settingsChanged);
    // llama.cpp's presets: every layer quantized for the GGUF type llama-quantize gives it, so
    // that the GGUF export (Export dialog, same preset) writes exactly what was evaluated.
    preset_ = new QComboBox(this);
    preset_->setObjectName(QStringLiteral("preset"));
    preset_->addItem(QStringLiteral("none"));
    for (const zp::gguf::PresetInfo& p : zp::gguf::presets())
        preset_->addItem(QString::fromStdString(p.name));
    preset_->setToolTip(QString::fromUtf8(zp::pipeline::run_option_spec("preset").help));
    connect(preset_, &QComboBox::currentTextChanged, this, &JobPanel::settingsChanged);
    bpw_ = new QDoubleSpinBox(this);
    bpw_->setObjectName(QStringLiteral("bpw"));
    bpw_->setDecimals(3);
    bpw_->setRange(zp::pipeline::run_option_spec("bpw").min,
                   zp::pipeline::run_option_spec("bpw").max);
    bpw_->setSingleStep(0.25);
    bpw_->setSpecialValueText(tr("preset's types"));
    bpw_->setSuffix(tr(" bits/weight"));
    bpw_->setToolTip(QString::fromUtf8(zp::pipeline::run_option_spec("bpw").help));
    connect(bpw_, qOverload<double>(&QDoubleSpinBox::valueChanged), this,
            &JobPanel::settingsChanged);
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
    // RUQuant's greedy rotation and its stage 2.
    rotSteps_ = new QSpinBox(this);
    setRangeFromTable(rotSteps_, "rot_steps");
    rotSteps_->setPrefix(tr("steps "));
    givensRounds_ = new QSpinBox(this);
    setRangeFromTable(givensRounds_, "givens_rounds");
    givensRounds_->setPrefix(tr("rounds "));
    rotTokens_ = new QSpinBox(this);
    setRangeFromTable(rotTokens_, "rot_tokens");
    rotTokens_->setSuffix(tr(" tokens"));
    finetuneEpochs_ = new QSpinBox(this);
    setRangeFromTable(finetuneEpochs_, "finetune_epochs");
    finetuneEpochs_->setSpecialValueText(tr("off"));
    finetuneEpochs_->setSuffix(tr(" epochs"));
    finetuneLr_ = new QDoubleSpinBox(this);
    setRangeFromTable(finetuneLr_, "finetune_lr", 6);
    finetuneLr_->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
    finetuneLr_->setPrefix(tr("lr "));

    // The distillation page.
    lr_ = new QDoubleSpinBox(this);
    setRangeFromTable(lr_, "lr", 6);
    lr_->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
    epochs_ = new QSpinBox(this);
    setRangeFromTable(epochs_, "epochs");
    warmup_ = new QDoubleSpinBox(this);
    setRangeFromTable(warmup_, "warmup", 2);
    distillBatch_ = new QSpinBox(this);
    setRangeFromTable(distillBatch_, "distill_batch");
    distillBatch_->setSuffix(tr(" per step"));
    trainNorms_ = new QCheckBox(tr("RMSNorm gains and q/k/v biases too"), this);
    trainNorms_->setObjectName(QStringLiteral("train_norms"));
    trainNorms_->setToolTip(QString::fromUtf8(zp::pipeline::run_option_spec("train_norms").help));
    distillCalib_ = new QLineEdit(this);
    distillCalib_->setObjectName(QStringLiteral("distillCalibration"));
    distillCalib_->setClearButtonEnabled(true);
    distillCalib_->setPlaceholderText(tr("the quantization's calibration file"));
    distillCalib_->setToolTip(
        tr("Training text (.txt), JSON lines (.jsonl) or token ids (.ids); empty: the file on "
           "the Quantize page (the demo: text sampled from the model)"));
    distillCalibBrowse_ = new QPushButton(tr("…"), this);
    distillCalibBrowse_->setMaximumWidth(32);
    distillCalibBrowse_->setToolTip(tr("Choose the training text"));
    connect(distillCalibBrowse_, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getOpenFileName(
            this, tr("Distillation data"), distillCalib_->text(),
            tr("Calibration data (*.txt *.raw *.jsonl *.json *.ids *.tokens);;All files (*)"));
        if (!p.isEmpty())
            distillCalib_->setText(p);
    });
    distillSamples_ = new QSpinBox(this);
    setRangeFromTable(distillSamples_, "nsamples");
    distillSamples_->setObjectName(QStringLiteral("distill_nsamples"));
    distillSeqlen_ = new QSpinBox(this);
    setRangeFromTable(distillSeqlen_, "seqlen");
    distillSeqlen_->setObjectName(QStringLiteral("distill_seqlen"));
    distillSeed_ = new QSpinBox(this);
    setRangeFromTable(distillSeed_, "seed");
    distillSeed_->setObjectName(QStringLiteral("distill_seed"));
    distill_ = new QPushButton(tr("Distill"), this);
    distill_->setObjectName(QStringLiteral("distillStart"));
    distill_->setToolTip(
        tr("Train the current result's scales and zero-points against the original model, codes "
           "frozen; the trained result becomes the current one (Ctrl+F5)"));
    connect(distill_, &QPushButton::clicked, this, &JobPanel::distillRequested);
    distillNote_ = new QLabel(this);
    distillNote_->setObjectName(QStringLiteral("distillNote"));
    distillNote_->setWordWrap(true);
    for (QWidget* w : std::initializer_list<QWidget*>{
             method_,         bits_,          group_,      seed_,     device_,       nsamples_,
             seqlen_,         calibFormat_,   wclip_,      abits_,    aclip_,        transform_,
             alpha_,          rotBlock_,      givens_,     rotSteps_, givensRounds_, rotTokens_,
             finetuneEpochs_, finetuneLr_,    lr_,         epochs_,   warmup_,       distillBatch_,
             distillSamples_, distillSeqlen_, distillSeed_})
        w->setMinimumWidth(60);
    connect(transform_, &QComboBox::currentIndexChanged, this, &JobPanel::updateTransformControls);
    connect(abits_, &QSpinBox::valueChanged, this, &JobPanel::updateTransformControls);
    connect(finetuneEpochs_, &QSpinBox::valueChanged, this, &JobPanel::updateTransformControls);
    for (QDoubleSpinBox* b : {wclip_, aclip_, alpha_})
        connect(b, &QDoubleSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    for (QDoubleSpinBox* b : {finetuneLr_, lr_, warmup_})
        connect(b, &QDoubleSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    for (QSpinBox* b : {abits_, rotBlock_, rotSteps_, givensRounds_, rotTokens_, finetuneEpochs_,
                        epochs_, distillBatch_, distillSamples_, distillSeqlen_, distillSeed_})
        connect(b, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    connect(trainNorms_, &QCheckBox::toggled, this, &JobPanel::settingsChanged);
    connect(distillCalib_, &QLineEdit::textChanged, this, &JobPanel::settingsChanged);
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

    // Shared by both kinds of job: tokenizer and device.
    auto* shared = new QFormLayout;
    shared->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    shared->addRow(tr("Tokenizer"), withButton(this, tokenizer_, tokBrowse_));
    shared->addRow(tr("Device"), device_);

    auto* quantPage = new QWidget(this);
    auto* form = new QFormLayout(quantPage);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Method"), method_);
    form->addRow(tr("Bits"), bits_);
    form->addRow(tr("Groups"), group_);
    form->addRow(tr("Calibration"), withButton(this, calib_, calibBrowse_));
    form->addRow(tr("Format"), calibFormat_);
    auto row = [this](std::initializer_list<QWidget*> ws, QWidget* between = nullptr) {
        auto* w = new QWidget(this);
        auto* l = new QHBoxLayout(w);
        l->setContentsMargins(0, 0, 0, 0);
        bool first = true;
        for (QWidget* x : ws) {
            if (!first && between)
                l->addWidget(between);
            first = false;
            l->addWidget(x, 1);
        }
        return w;
    };
    form->addRow(tr("N × L"), row({nsamples_, seqlen_}, new QLabel(QStringLiteral("×"), this)));
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Protect (NeUQI)"), protect_);
    form->addRow(tr("llama.cpp preset"), row({preset_, bpw_}));
    form->addRow(tr("Weight clip"), wclip_);
    form->addRow(tr("Activations"), row({abits_, aclip_}));
    form->addRow(tr("Transform"), transform_);
    form->addRow(tr("Rotations"), row({alpha_, rotBlock_, givens_}));
    form->addRow(tr("RUQuant"), row({rotSteps_, givensRounds_}));
    form->addRow(tr("Rotation data"), rotTokens_);
    form->addRow(tr("Stage 2"), row({finetuneEpochs_, finetuneLr_}));

    auto* distillPage = new QWidget(this);
    auto* dform = new QFormLayout(distillPage);
    dform->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    dform->addRow(distillNote_);
    dform->addRow(tr("Learning rate"), lr_);
    dform->addRow(tr("Epochs"), epochs_);
    dform->addRow(tr("Warm-up"), warmup_);
    dform->addRow(tr("Sequences"), distillBatch_);
    dform->addRow(tr("Train"), trainNorms_);
    dform->addRow(tr("Text"), withButton(this, distillCalib_, distillCalibBrowse_));
    dform->addRow(tr("N × L"),
                  row({distillSamples_, distillSeqlen_}, new QLabel(QStringLiteral("×"), this)));
    dform->addRow(tr("Seed"), distillSeed_);
    dform->addRow(distill_);

    pages_ = new QTabWidget(this);
    pages_->setObjectName(QStringLiteral("jobPages"));
    pages_->addTab(quantPage, tr("Quantize"));
    pages_->addTab(distillPage, tr("Distill"));
    pages_->setTabToolTip(1, tr("NeUQI's lightweight distillation of the current result: codes "
                                "frozen, scales, zero-points and norms trained"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(start_);
    buttons->addWidget(cancel_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(shared);
    layout->addWidget(pages_);
    layout->addLayout(buttons);
    layout->addWidget(bar_);
    layout->addWidget(where_);
    layout->addWidget(stage_);
    layout->addWidget(eta_);
    layout->addWidget(log_, 1);
    setDistillSettings(DistillSettings());
    setSettings(JobSettings());
    setState(JobController::State::Idle);
}

void JobPanel::updateCalibrationHint()
{
    const bool gptq = method_->currentData().toString().startsWith(QLatin1String("gptq"));
    const bool needsData = gptq || transform_->currentData().toString() != QLatin1String("none");
    calib_->setPlaceholderText(demo_ ? tr("empty: text sampled from the model")
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
    const bool ruquant = kind == QLatin1String("ruquant");
    for (QWidget* w : std::initializer_list<QWidget*>{givens_, rotSteps_, givensRounds_, rotTokens_,
                                                      finetuneEpochs_})
        w->setEnabled(idle && ruquant);
    finetuneLr_->setEnabled(idle && ruquant && finetuneEpochs_->value() > 0);
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
    s.protect = protect_->currentText().trimmed();
    s.preset = preset_->currentText();
    s.bpw = bpw_->value();
    s.abits = abits_->value();
    s.aclip = aclip_->value();
    s.transform = transform_->currentData().toString();
    s.alpha = alpha_->value();
    s.rotBlock = rotBlock_->value();
    s.givens = givens_->currentData().toString();
    s.rotSteps = rotSteps_->value();
    s.givensRounds = givensRounds_->value();
    s.rotTokens = rotTokens_->value();
    s.finetuneEpochs = finetuneEpochs_->value();
    s.finetuneLr = finetuneLr_->value();
    return s;
}

DistillSettings JobPanel::distillSettings() const
{
    DistillSettings s = distillBase_;
    s.lr = lr_->value();
    s.epochs = epochs_->value();
    s.warmup = warmup_->value();
    s.batch = distillBatch_->value();
    s.trainNorms = trainNorms_->isChecked();
    s.calibPath = distillCalib_->text().trimmed();
    if (s.calibPath.isEmpty()) {  // the quantization's file and format
        s.calibPath = calib_->text().trimmed();
        s.calibFormat = calibFormat_->currentData().toString();
    }
    s.nsamples = distillSamples_->value();
    s.seqlen = distillSeqlen_->value();
    s.seed = static_cast<uint64_t>(distillSeed_->value());
    s.tokenizer = tokenizer_->text().trimmed();
    s.device = device_->currentText();
    return s;
}

void JobPanel::setDistillSettings(const DistillSettings& s)
{
    distillBase_ = s;
    lr_->setValue(s.lr);
    epochs_->setValue(s.epochs);
    warmup_->setValue(s.warmup);
    distillBatch_->setValue(static_cast<int>(s.batch));
    trainNorms_->setChecked(s.trainNorms);
    distillCalib_->setText(s.calibPath == calib_->text().trimmed() ? QString() : s.calibPath);
    distillSamples_->setValue(s.nsamples);
    distillSeqlen_->setValue(s.seqlen);
    distillSeed_->setValue(static_cast<int>(s.seed));
}

void JobPanel::setDistillAvailable(bool available, const QString& why)
{
    distillAvailable_ = available;
    distillWhy_ = why;
    setState(state_);
}

void JobPanel::showDistillPage()
{
    pages_->setCurrentIndex(1);
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
    protect_->setCurrentText(s.protect);
    const int pi = preset_->findText(s.preset);
    preset_->setCurrentIndex(pi < 0 ? 0 : pi);
    bpw_->setValue(s.bpw);
    abits_->setValue(s.abits);
    aclip_->setValue(s.aclip);
    int t = transform_->findData(s.transform);
    transform_->setCurrentIndex(t < 0 ? 0 : t);
    alpha_->setValue(s.alpha);
    rotBlock_->setValue(static_cast<int>(s.rotBlock));
    int gv = givens_->findData(s.givens);
    givens_->setCurrentIndex(gv < 0 ? 0 : gv);
    rotSteps_->setValue(s.rotSteps);
    givensRounds_->setValue(s.givensRounds);
    rotTokens_->setValue(static_cast<int>(s.rotTokens));
    finetuneEpochs_->setValue(s.finetuneEpochs);
    finetuneLr_->setValue(s.finetuneLr);
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
             seqlen_, tokenizer_, tokBrowse_, wclip_, protect_, preset_, bpw_, abits_, transform_})
        w->setEnabled(idle);
    updateTransformControls();
    for (QWidget* w : std::initializer_list<QWidget*>{
             lr_, epochs_, warmup_, distillBatch_, trainNorms_, distillCalib_, distillCalibBrowse_,
             distillSamples_, distillSeqlen_, distillSeed_})
        w->setEnabled(idle && distillAvailable_);
    distill_->setEnabled(idle && distillAvailable_);
    distillNote_->setText(
        distillAvailable_
            ? tr("Trains the current result's scales and zero-points (codes frozen) to match the "
                 "original model's final hidden states. Weight-only results only.")
            : (distillWhy_.isEmpty()
                   ? tr("Run a quantization job (or open a session) first: distillation trains "
                        "a weight-only result.")
                   : distillWhy_));
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
    if (p.distill)
        where_->setText(p.layerCount > 0 && p.layersDone >= p.layerCount
                            ? tr("Distillation done")
                            : tr("Distilling (codes frozen)…"));
    else if (p.layerName.isEmpty())
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
