#include "app/gui/activationsview.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "app/gui/backgroundtask.h"
#include "app/gui/plots/channelmaxplot.h"
#include "app/gui/plots/tokenerrorplot.h"
#include "app/gui/plots/tokenintervalplot.h"
#include "core/pipeline/run_options.h"

namespace {

QString kindLabel(zp::quant::TransformKind k)
{
    return QString::fromUtf8(zp::quant::transform_kind_info(k).label);
}

IntervalPicture pictureOf(const std::vector<double>& values, const TokenIntervals& t,
                          const QString& caption, const QColor& color)
{
    IntervalPicture p;
    p.values = values;
    p.edges = t.edges;
    p.midpoints = t.midpoints;
    p.centroids = t.centroids;
    p.counts = t.counts;
    p.step = t.step;
    p.caption = caption;
    p.color = color;
    return p;
}

}  // namespace

ActivationsView::ActivationsView(QWidget* parent)
    : QWidget(parent), cache_(std::make_shared<ActivationCapture>())
{
    qRegisterMetaType<ActivationData>();
    task_ = new BackgroundTask(this);

    block_ = new QSpinBox(this);
    block_->setObjectName(QStringLiteral("actBlock"));
    block_->setRange(0, 0);
    block_->setPrefix(tr("block "));
    block_->setToolTip(tr("The decoder block whose activations are captured"));
    group_ = new QComboBox(this);
    group_->setObjectName(QStringLiteral("actGroup"));
    for (const QString& g : activationGroups())
        group_->addItem(g, g);
    group_->setToolTip(
        tr("The linear input: q_proj (read by q, k, v), o_proj, gate_proj (gate, up), down_proj"));
    transform_ = new QComboBox(this);
    transform_->setObjectName(QStringLiteral("actTransform"));
    transform_->setToolTip(
        tr("The run's transform for this group, or one built here from the captured tokens "
           "(alpha, rotation block and Givens variant from the job panel)"));
    bits_ = new QSpinBox(this);
    bits_->setObjectName(QStringLiteral("actBits"));
    {
        const zp::pipeline::RunOptionSpec& spec = zp::pipeline::run_option_spec("abits");
        bits_->setRange(static_cast<int>(spec.min), static_cast<int>(spec.max));
    }
    bits_->setValue(4);
    bits_->setPrefix(tr("A"));
    bits_->setToolTip(tr("Bits of the per-token activation quantizer"));
    clip_ = new QDoubleSpinBox(this);
    clip_->setObjectName(QStringLiteral("actClip"));
    {
        const zp::pipeline::RunOptionSpec& spec = zp::pipeline::run_option_spec("aclip");
        clip_->setRange(spec.min, spec.max);
    }
    clip_->setDecimals(2);
    clip_->setSingleStep(0.05);
    clip_->setValue(1.0);
    clip_->setPrefix(tr("clip "));
    clip_->setToolTip(tr("Clip ratio of the per-token quantizer (RUQuant's lac)"));
    text_ = new QLineEdit(this);
    text_->setObjectName(QStringLiteral("actText"));
    text_->setClearButtonEnabled(true);
    text_->setToolTip(
        tr("The text the model runs on (plain text, .jsonl or .ids); empty: the job's "
           "calibration file (the demo: text sampled from the model)"));
    browse_ = new QPushButton(tr("…"), this);
    browse_->setMaximumWidth(32);
    connect(browse_, &QPushButton::clicked, this, [this] {
        const QString p =
            QFileDialog::getOpenFileName(this, tr("Text for the activations"), text_->text(),
                                         tr("Text (*.txt *.raw *.jsonl *.ids);;All files (*)"));
        if (!p.isEmpty())
            text_->setText(p);
    });
    nsamples_ = new QSpinBox(this);
    nsamples_->setObjectName(QStringLiteral("actSamples"));
    nsamples_->setRange(1, 1024);
    nsamples_->setValue(4);
    nsamples_->setToolTip(tr("Sequences of text"));
    seqlen_ = new QSpinBox(this);
    seqlen_->setObjectName(QStringLiteral("actSeqlen"));
    seqlen_->setRange(2, 8192);
    seqlen_->setValue(128);
    seqlen_->setToolTip(tr("Tokens per sequence (shortened to the model's context)"));
    token_ = new QSpinBox(this);
    token_->setObjectName(QStringLiteral("actToken"));
    token_->setRange(0, 0);
    token_->setPrefix(tr("token "));
    token_->setToolTip(tr("The token shown against the quantization intervals"));
    stage_ = new QComboBox(this);
    stage_->setObjectName(QStringLiteral("actStage"));
    stage_->addItem(tr("every stage"), -1);
    stage_->setToolTip(tr("Show every stage of the transform, or one over the input"));
    compute_ = new QPushButton(tr("Compute"), this);
    compute_->setObjectName(QStringLiteral("actCompute"));
    compute_->setToolTip(
        tr("Run the model up to the block, capture the group's input and apply its transform"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("actCancel"));
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1);
    bar_->setValue(0);
    bar_->setMaximumWidth(160);
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("actStatus"));
    status_->setWordWrap(true);
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("actSummary"));
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    stages_ = new ChannelMaxPlot(this);
    errors_ = new TokenErrorPlot(this);
    tokenBefore_ = new TokenIntervalPlot(tr("One token without the transform"), this);
    tokenAfter_ = new TokenIntervalPlot(tr("The same token after the transform (x Q)"), this);

    auto* row1 = new QHBoxLayout;
    row1->addWidget(block_);
    row1->addWidget(group_);
    row1->addWidget(new QLabel(tr("Transform"), this));
    row1->addWidget(transform_, 1);
    row1->addWidget(bits_);
    row1->addWidget(clip_);
    row1->addWidget(token_);
    row1->addWidget(stage_);
    auto* row2 = new QHBoxLayout;
    row2->addWidget(new QLabel(tr("Text"), this));
    row2->addWidget(text_, 2);
    row2->addWidget(browse_);
    row2->addWidget(nsamples_);
    row2->addWidget(new QLabel(QStringLiteral("×"), this));
    row2->addWidget(seqlen_);
    row2->addWidget(compute_);
    row2->addWidget(cancel_);
    row2->addWidget(bar_);
    row2->addWidget(status_, 2);

    auto* top = new QSplitter(Qt::Horizontal, this);
    top->addWidget(stages_);
    top->addWidget(errors_);
    auto* bottom = new QSplitter(Qt::Horizontal, this);
    bottom->addWidget(tokenBefore_);
    bottom->addWidget(tokenAfter_);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(bottom);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(row1);
    layout->addLayout(row2);
    layout->addWidget(summary_);
    layout->addWidget(split, 1);

    for (QSpinBox* b : {block_, bits_})
        connect(b, &QSpinBox::valueChanged, this, &ActivationsView::requestUpdate);
    connect(clip_, &QDoubleSpinBox::valueChanged, this, &ActivationsView::requestUpdate);
    for (QComboBox* b : {group_, transform_})
        connect(b, &QComboBox::currentIndexChanged, this, &ActivationsView::requestUpdate);
    connect(token_, &QSpinBox::valueChanged, this, [this] {
        redrawToken();
        if (data_.valid())
            errors_->setData(data_.errorPlain, data_.errorTransformed, kindLabel(data_.kind),
                             token(), data_.tokenText);
    });
    connect(stage_, &QComboBox::currentIndexChanged, this, &ActivationsView::redrawStages);
    connect(errors_, &TokenErrorPlot::tokenClicked, this, &ActivationsView::setToken);
    connect(compute_, &QPushButton::clicked, this, &ActivationsView::compute);
    connect(cancel_, &QPushButton::clicked, this, &ActivationsView::cancel);
    connect(task_, &BackgroundTask::runningChanged, this, &ActivationsView::updateEnabled);
    connect(task_, &BackgroundTask::progress, this,
            [this](double done, double total, const QString& stage) {
                bar_->setRange(0, 1000);
                bar_->setValue(total > 0 ? static_cast<int>(1000.0 * done / total) : 0);
                status_->setText(stage);
            });
    connect(task_, &BackgroundTask::finished, this, [this](const QVariant& v) {
        if (pending_) {
            pending_ = false;
            compute();
            return;
        }
        showData(v.value<ActivationData>());
    });
    connect(task_, &BackgroundTask::cancelled, this, [this] {
        if (pending_) {
            pending_ = false;
            compute();
            return;
        }
        status_->setText(tr("Cancelled; the previous picture stays."));
        bar_->setRange(0, 1);
        bar_->setValue(0);
        Q_EMIT cancelled();
    });
    connect(task_, &BackgroundTask::failed, this, [this](const QString& e) {
        if (pending_) {
            pending_ = false;
            compute();
            return;
        }
        status_->setText(tr("Failed: %1").arg(e));
        bar_->setRange(0, 1);
        bar_->setValue(0);
        Q_EMIT failed(tr("Activations: %1").arg(e));
    });
    fillTransformSources();
    updateEnabled();
}

ActivationsView::~ActivationsView()
{
    // The task's thread holds the capture cache (shared); stop it before the widgets go.
    delete task_;
}

QList<PlotView*> ActivationsView::plots() const
{
    return {stages_, errors_, tokenBefore_, tokenAfter_};
}

void ActivationsView::fillTransformSources()
{
    const bool was = updating_;
    updating_ = true;
    const QString current = transform_->currentData().toString();
    transform_->clear();
    const bool runHas = run_ && !run_->transforms.empty();
    if (runHas) {
        QString kind;
        for (const zp::quant::GroupTransform* t : run_->transforms.all())
            kind = kindLabel(t->kind);
        transform_->addItem(tr("the run's (%1)").arg(kind), QStringLiteral("run"));
    }
    for (const zp::quant::TransformKindInfo& k : zp::quant::transform_kinds()) {
        transform_->addItem(tr("built here: %1").arg(QString::fromUtf8(k.label)),
                            QString::fromUtf8(k.name));
        transform_->setItemData(transform_->count() - 1, QString::fromUtf8(k.description),
                                Qt::ToolTipRole);
    }
    int i = transform_->findData(current);
    if (runHas)
        i = 0;  // a new run: show its transform
    else if (i < 0)
        i = transform_->findData(QStringLiteral("ruquant"));
    transform_->setCurrentIndex(std::max(0, i));
    updating_ = was;
}

void ActivationsView::setInputs(ModelPtr model, QuantizedModelPtr run)
{
    const bool modelChanged = model != model_;
    const bool runChanged = run != run_;
    model_ = std::move(model);
    run_ = std::move(run);
    updating_ = true;
    if (modelChanged) {
        block_->setRange(0, model_ ? std::max(0, model_->blockCount() - 1) : 0);
        data_ = ActivationData();
        before_ = after_ = TokenIntervals();
        stages_->clearPlot(tr("Compute to see the outlier channels"));
        errors_->clearPlot(tr("Compute to see the error of every token"));
        tokenBefore_->clearPlot(tr("Compute to see a token against its quantization intervals"));
        tokenAfter_->clearPlot(tr("Compute to see a token against its quantization intervals"));
        summary_->clear();
    }
    if (runChanged) {
        fillTransformSources();
        if (run_ && !run_->transforms.empty()) {
            const JobSettings rs = settingsOf(*run_);
            if (rs.abits < 16)
                bits_->setValue(rs.abits);
            clip_->setValue(rs.aclip);
        }
    }
    updating_ = false;
    if (modelChanged && model_ && model_->isDemo() && text_->text().isEmpty())
        text_->setPlaceholderText(tr("demo: text sampled from the model"));
    updateEnabled();
    // What is shown belongs to the previous run: show this one's.
    if (runChanged && data_.valid())
        requestUpdate();
}

void ActivationsView::setJobSettings(const JobSettings& s)
{
    job_ = s;
    if (!model_ || !model_->isDemo())
        text_->setPlaceholderText(s.calibPath.isEmpty()
                                      ? tr("a text file (required)")
                                      : tr("the job's: %1").arg(s.calibPath.section('/', -1)));
    // Without a run's transform the quantizer follows the job panel (A4 where it says A16).
    if (!run_ || run_->transforms.empty()) {
        updating_ = true;
        bits_->setValue(s.abits < 16 ? s.abits : 4);
        clip_->setValue(s.aclip);
        updating_ = false;
    }
}

ActivationRequest ActivationsView::request() const
{
    ActivationRequest r;
    r.block = block_->value();
    r.group = group_->currentData().toString();
    r.textPath = text_->text().trimmed();
    r.textFormat = QStringLiteral("auto");
    if (r.textPath.isEmpty() && !(model_ && model_->isDemo())) {
        r.textPath = job_.calibPath;
        r.textFormat = job_.calibFormat;
    }
    r.tokenizer = job_.tokenizer;
    r.nsamples = nsamples_->value();
    r.seqlen = seqlen_->value();
    r.seed = job_.seed;
    r.abits = bits_->value();
    r.aclip = clip_->value();
    const QString source = transformSource();
    r.useRunTransform = source == QLatin1String("run") && run_;
    // A group the run has no transform for gets one built with the run's own options.
    JobSettings s = r.useRunTransform ? settingsOf(*run_) : job_;
    if (!r.useRunTransform)
        s.transform = source;
    try {
        r.transform = s.transformOptions();
    } catch (const std::exception&) {
        // Settings the table refuses: its defaults, with the chosen kind.
        r.transform = JobSettings().transformOptions();
        if (!r.useRunTransform)
            r.transform.kind = zp::quant::parse_transform_kind(source.toStdString());
    }
    return r;
}

void ActivationsView::setBlock(int block)
{
    block_->setValue(block);
}

void ActivationsView::setGroup(const QString& group)
{
    const int i = group_->findData(group);
    if (i >= 0)
        group_->setCurrentIndex(i);
}

void ActivationsView::setTransformSource(const QString& source)
{
    const int i = transform_->findData(source);
    if (i >= 0)
        transform_->setCurrentIndex(i);
}

QString ActivationsView::transformSource() const
{
    return transform_->currentData().toString();
}

void ActivationsView::setBits(int abits, double aclip)
{
    updating_ = true;
    bits_->setValue(abits);
    clip_->setValue(aclip);
    updating_ = false;
    requestUpdate();
}

void ActivationsView::setText(const QString& path, int nsamples, int seqlen)
{
    text_->setText(path);
    nsamples_->setValue(nsamples);
    seqlen_->setValue(seqlen);
}

void ActivationsView::setToken(int t)
{
    token_->setValue(t);
}

int ActivationsView::token() const
{
    return token_->value();
}

void ActivationsView::setStage(int stage)
{
    const int i = stage_->findData(stage);
    if (i >= 0)
        stage_->setCurrentIndex(i);
}

bool ActivationsView::isRunning() const
{
    return task_->isRunning();
}

void ActivationsView::requestUpdate()
{
    // Only once there is a picture: the first computation is asked for (Compute).
    if (updating_ || !data_.valid())
        return;
    compute();
}

bool ActivationsView::compute()
{
    if (!model_) {
        status_->setText(tr("Open a model first."));
        return false;
    }
    if (!model_->hasWeights()) {
        const QString m = tr("The session's model is not available: no activations to capture.");
        status_->setText(m);
        Q_EMIT failed(m);
        return false;
    }
    if (task_->isRunning()) {
        pending_ = true;  // the newest request runs when this one has stopped
        task_->cancel();
        return true;
    }
    const ActivationRequest r = request();
    ModelPtr model = model_;
    QuantizedModelPtr run = run_;
    std::shared_ptr<ActivationCapture> cache = cache_;
    status_->setText(tr("Starting…"));
    bar_->setRange(0, 0);
    return task_->start([model, run, r, cache](const zp::ProgressFn& progress) {
        return QVariant::fromValue(computeActivations(model, run, r, cache.get(), progress));
    });
}

void ActivationsView::cancel()
{
    pending_ = false;
    task_->cancel();
}

void ActivationsView::updateEnabled()
{
    const bool running = task_->isRunning();
    compute_->setEnabled(model_ != nullptr && model_->hasWeights());
    cancel_->setEnabled(running);
    for (QWidget* w : std::initializer_list<QWidget*>{text_, browse_, nsamples_, seqlen_})
        w->setEnabled(!running);
    if (!running && bar_->maximum() == 0)
        bar_->setRange(0, 1);
    if (!model_)
        status_->setText(tr("Open a model, then Compute."));
    else if (!running && status_->text().startsWith(tr("Open a model")))
        status_->setText(tr("Compute to capture the activations."));
}

void ActivationsView::showData(const ActivationData& d)
{
    data_ = d;
    updating_ = true;
    token_->setRange(0, static_cast<int>(std::max<int64_t>(0, d.tokens - 1)));
    const int stage = stage_->currentData().toInt();
    stage_->clear();
    stage_->addItem(tr("every stage"), -1);
    for (int i = 0; i < d.stageNames.size(); ++i)
        stage_->addItem(tr("stage: %1").arg(d.stageNames[i]), i);
    stage_->setCurrentIndex(std::max(0, stage_->findData(stage)));
    updating_ = false;

    redrawStages();
    errors_->setData(d.errorPlain, d.errorTransformed, kindLabel(d.kind), token(), d.tokenText);
    redrawToken();
    QString q = d.abits < 16 ? tr("A%1 (clip %2)").arg(d.abits).arg(d.aclip) : tr("A16 (none)");
    QString text = tr("<b>Block %1 %2</b>: %3 channels × %4 tokens (%5), full-precision model. "
                      "Transform: %6.")
                       .arg(d.block)
                       .arg(d.group)
                       .arg(d.width)
                       .arg(d.tokens)
                       .arg(d.textSource.toHtmlEscaped(), d.transformSource.toHtmlEscaped());
    if (d.abits < 16)
        text +=
            tr(" %1 per token: relative error <b>%2 → %3</b> (×%4); mean |centroid − "
               "midpoint| / step over all tokens <b>%5 → %6</b>. The centroid of an interval "
               "is the mean of the values of one token that fall into it (each token has its "
               "own grid).")
                .arg(q)
                .arg(d.setErrorPlain, 0, 'f', 4)
                .arg(d.setErrorTransformed, 0, 'f', 4)
                .arg(d.setErrorPlain > 0 ? d.setErrorTransformed / d.setErrorPlain : 1.0, 0, 'f', 2)
                .arg(d.gapPlain, 0, 'f', 3)
                .arg(d.gapTransformed, 0, 'f', 3);
    else
        text += tr(" At 16 bits nothing is quantized: choose fewer activation bits.");
    summary_->setText(text);
    status_->setText(tr("Done."));
    bar_->setRange(0, 1);
    bar_->setValue(1);
    Q_EMIT updated();
}

void ActivationsView::redrawStages()
{
    if (updating_ || !data_.valid())
        return;
    stages_->setData(data_.stageNames, data_.stageMax, stage_->currentData().toInt());
}

void ActivationsView::redrawToken()
{
    if (updating_ || !data_.valid())
        return;
    const int t = token();
    const std::vector<double> x = data_.tokenValues(t, false), y = data_.tokenValues(t, true);
    if (data_.abits >= 16) {
        before_ = after_ = TokenIntervals();
    } else {
        before_ =
            tokenIntervals(x.data(), static_cast<int64_t>(x.size()), data_.abits, data_.aclip);
        after_ = tokenIntervals(y.data(), static_cast<int64_t>(y.size()), data_.abits, data_.aclip);
    }
    const QString piece = data_.tokenText.value(t);
    const QString who =
        piece.isEmpty() ? tr("token %1").arg(t) : tr("token %1 '%2'").arg(t).arg(piece);
    auto caption = [&](const TokenIntervals& iv, double all) {
        return tr("%1, %2 of %3 intervals used\nmean |centroid − midpoint| / step: %4 (this "
                  "token), %5 (all tokens)")
            .arg(who)
            .arg(iv.nonEmpty)
            .arg(iv.midpoints.size())
            .arg(iv.meanGap, 0, 'f', 3)
            .arg(all, 0, 'f', 3);
    };
    tokenBefore_->setData(
        pictureOf(x, before_, caption(before_, data_.gapPlain), QColor(0xE6, 0x9F, 0x00)));
    tokenAfter_->setData(
        pictureOf(y, after_, caption(after_, data_.gapTransformed), QColor(0x00, 0x72, 0xB2)));
}

QString ActivationsView::summaryText() const
{
    return summary_->text();
}

QString ActivationsView::statusText() const
{
    return status_->text();
}
