#include "app/gui/jobpanel.h"

#include <QComboBox>
#include <QDateTime>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <ATen/Context.h>

#include "kernels/zero_point.h"

QStringList availableDevices()
{
    QStringList d{QStringLiteral("cpu")};
    if (zp::kernels::cuda_kernels_available())
        for (int i = 0; i < at::detail::getCUDAHooks().getNumGPUs(); ++i)
            d << QStringLiteral("cuda:%1").arg(i);
    return d;
}

JobPanel::JobPanel(QWidget* parent) : QWidget(parent)
{
    method_ = new QComboBox(this);
    method_->setObjectName(QStringLiteral("jobMethod"));
    for (const zp::quant::MethodInfo& m : zp::quant::methods()) {
        method_->addItem(QString::fromUtf8(m.label), static_cast<int>(m.method));
        method_->setItemData(method_->count() - 1, QString::fromUtf8(m.description),
                             Qt::ToolTipRole);
    }
    method_->setToolTip(tr("How the scale and zero-point of every group are chosen"));
    bits_ = new QSpinBox(this);
    bits_->setObjectName(QStringLiteral("jobBits"));
    bits_->setRange(2, 8);
    bits_->setToolTip(tr("Bits per weight (2..8): 2^bits quantization levels"));
    group_ = new QComboBox(this);
    group_->setObjectName(QStringLiteral("jobGroup"));
    group_->addItem(tr("channel-wise (whole row)"), -1);
    for (int g : {32, 64, 128, 256})
        group_->addItem(tr("groups of %1 columns").arg(g), g);
    group_->setToolTip(
        tr("Parameters per output row (channel-wise) or per group of consecutive input columns"));
    seed_ = new QSpinBox(this);
    seed_->setObjectName(QStringLiteral("jobSeed"));
    seed_->setRange(0, 1 << 30);
    seed_->setToolTip(tr("Calibration seed (the demo draws its synthetic importance from it)"));
    device_ = new QComboBox(this);
    device_->setObjectName(QStringLiteral("jobDevice"));
    device_->addItems(availableDevices());
    device_->setToolTip(tr(
        "Where the search runs: the CPU, or a CUDA device where this build has the CUDA kernels"));
    for (QWidget* w : std::initializer_list<QWidget*>{method_, bits_, group_, seed_, device_})
        w->setMinimumWidth(60);
    connect(method_, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(bits_, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);
    connect(group_, &QComboBox::currentIndexChanged, this, &JobPanel::settingsChanged);
    connect(seed_, &QSpinBox::valueChanged, this, &JobPanel::settingsChanged);

    start_ = new QPushButton(tr("Start"), this);
    start_->setObjectName(QStringLiteral("jobStart"));
    start_->setToolTip(tr("Quantize every layer of the model (F5)"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("jobCancel"));
    cancel_->setToolTip(tr("Stop after the current layer; finished layers are kept (Esc)"));
    connect(start_, &QPushButton::clicked, this, &JobPanel::startRequested);
    connect(cancel_, &QPushButton::clicked, this, &JobPanel::cancelRequested);
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1);
    bar_->setValue(0);
    where_ = new QLabel(tr("Idle"), this);
    where_->setWordWrap(true);
    eta_ = new QLabel(this);
    log_ = new QPlainTextEdit(this);
    log_->setObjectName(QStringLiteral("jobLog"));
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(5000);
    log_->setPlaceholderText(tr("The job log"));

    auto* form = new QFormLayout;
    form->addRow(tr("Method"), method_);
    form->addRow(tr("Bits"), bits_);
    form->addRow(tr("Groups"), group_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Device"), device_);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(start_);
    buttons->addWidget(cancel_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(buttons);
    layout->addWidget(bar_);
    layout->addWidget(where_);
    layout->addWidget(eta_);
    layout->addWidget(log_, 1);
    setSettings(JobSettings());
    setState(JobController::State::Idle);
}

JobSettings JobPanel::settings() const
{
    JobSettings s;
    s.method = static_cast<zp::quant::Method>(method_->currentData().toInt());
    s.bits = bits_->value();
    s.groupSize = group_->currentData().toInt();
    s.seed = static_cast<uint64_t>(seed_->value());
    s.device = device_->currentText();
    return s;
}

void JobPanel::setSettings(const JobSettings& s)
{
    int m = method_->findData(static_cast<int>(s.method));
    method_->setCurrentIndex(m < 0 ? 0 : m);
    bits_->setValue(s.bits);
    int g = group_->findData(static_cast<int>(s.groupSize));
    group_->setCurrentIndex(g < 0 ? 0 : g);
    seed_->setValue(static_cast<int>(s.seed));
    int d = device_->findText(s.device);
    device_->setCurrentIndex(d < 0 ? 0 : d);
}

void JobPanel::setModelLoaded(bool loaded)
{
    modelLoaded_ = loaded;
    setState(state_);
}

void JobPanel::setState(JobController::State state)
{
    state_ = state;
    const bool idle = state == JobController::State::Idle;
    start_->setEnabled(idle && modelLoaded_);
    cancel_->setEnabled(state == JobController::State::Running);
    for (QWidget* w : std::initializer_list<QWidget*>{method_, bits_, group_, seed_, device_})
        w->setEnabled(idle);
    if (state == JobController::State::Cancelling)
        where_->setText(tr("Cancelling after the current layer…"));
    else if (idle && !modelLoaded_)
        where_->setText(tr("Open a model (File > Open demo model) to start"));
}

void JobPanel::setProgress(const JobProgress& p)
{
    bar_->setRange(0, std::max(1, p.layerCount));
    bar_->setValue(p.layersDone);
    if (p.layerName.isEmpty())
        where_->setText(tr("Done: %1 layers").arg(p.layersDone));
    else
        where_->setText(tr("Block %1/%2, layer %3/%4: %5")
                            .arg(p.block + 1)
                            .arg(p.blockCount)
                            .arg(p.layersDone + 1)
                            .arg(p.layerCount)
                            .arg(p.layerName));
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
