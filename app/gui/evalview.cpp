#include "app/gui/evalview.h"

#include <QFileDialog>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include "app/gui/backgroundtask.h"
#include "app/gui/plots/perplexityplot.h"
#include "core/common/error.h"
#include "core/data/corpus.h"
#include "core/demo/demo_model.h"
#include "core/eval/compare.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/run_options.h"
#include "core/tokenizer/tokenizer.h"

namespace {

// qm: the quantized result; distilled (may be null): its distillation, evaluated third on the same
// windows and prompt.
EvalResult runEvaluation(const ModelPtr& model, const QuantizedModelPtr& qm,
                         const QuantizedModelPtr& distilled, const EvalSettings& s,
                         const zp::ProgressFn& progress)
{
    std::unique_ptr<zp::model::Model> engine = model->openEngine();
    std::unique_ptr<zp::tok::Tokenizer> tok = openTokenizer(*model, s.tokenizer);
    zp::eval::CompareOptions o;
    o.ppl.window = s.window;
    o.ppl.max_windows = s.windows;
    o.ppl.c4_windows = s.windows;
    const auto dev = zp::model::compute_device(s.device.toStdString());
    o.ppl.device = dev.first;
    o.ppl.dtype = dev.second;
    o.prompt = s.prompt.toStdString();
    o.steps = s.steps;
    EvalResult r;
    at::Tensor windows;
    if (s.textPath.isEmpty()) {
        if (!model->samplesOwnText())
            throw zp::InvalidArgument(
                "choose a text file to evaluate on (WikiText-2 .raw, C4 "
                ".jsonl or plain text)");
        const int64_t L = std::min<int64_t>(s.window, engine->config().max_position);
        progress(0, 1, "sampling the demo text");
        // A seed apart from the calibration draws: the evaluation text is new to the pipeline.
        std::vector<int32_t> stream =
            zp::demo::demo_token_stream(*engine, L * s.windows, 0x5eed0e7a1ull, L);
        windows = zp::data::contiguous_windows(stream, L, s.windows);
        r.what = model->isDemo()
                     ? QStringLiteral("demo text sampled from the model")
                     : QStringLiteral("text sampled from the original model (temperature 1)");
    } else {
        const std::string path = s.textPath.toStdString();
        windows =
            zp::eval::windows_of_file(*engine, *tok, path, zp::eval::guess_protocol(path), o.ppl);
        r.what = s.textPath.section('/', -1);
    }
    // Progress over two (or three) models' windows and generated tokens.
    const double per = static_cast<double>(windows.size(0) + o.steps);
    const double total = (distilled ? 3.0 : 2.0) * per;
    zp::ProgressFn first = [&](double done, double, const std::string& stage) {
        return progress(std::min(done, 2.0 * per), total, stage);
    };
    zp::eval::CompareResult c = zp::eval::compare_quantized(*engine, *qm, *tok, windows, o, first);
    if (distilled) {
        // The same windows and prompt through the distilled result (this engine instance is
        // private to the evaluation, so nothing needs restoring).
        zp::pipeline::install_run(*engine, *distilled);
        const zp::eval::PerplexityResult d = zp::eval::perplexity_of_windows(
            *engine, windows, o.ppl, [&](double done, double, const std::string&) {
                return progress(2.0 * per + done, total, "perplexity, distilled model");
            });
        std::vector<int32_t> prompt = tok->encode(o.prompt, true);
        if (prompt.empty())
            prompt.push_back(0);
        std::vector<int32_t> stops;
        if (tok->eos_id() >= 0)
            stops.push_back(tok->eos_id());
        int64_t n = 0;
        const std::vector<int32_t> ids = zp::model::generate_greedy(
            *engine, prompt, o.steps, stops,
            [&](int32_t, int32_t) {
                ++n;
                if (!progress(2.0 * per + windows.size(0) + n, total,
                              "generating, distilled model"))
                    throw zp::Cancelled();
                return true;
            },
            o.ppl.device, o.ppl.dtype);
        const std::vector<int32_t> tail(ids.begin() + std::min(ids.size(), prompt.size()),
                                        ids.end());
        r.hasDistilled = true;
        r.pplDistilled = d.perplexity;
        r.textDistilled = QString::fromStdString(tok->decode(tail));
    }
    r.pplOriginal = c.original.perplexity;
    r.pplQuantized = c.quantized.perplexity;
    r.windows = c.original.windows;
    r.window = c.original.window;
    r.prompt = s.prompt;
    r.textOriginal = QString::fromStdString(c.text_original);
    r.textQuantized = QString::fromStdString(c.text_quantized);
    return r;
}

}  // namespace

EvalView::EvalView(QWidget* parent) : QWidget(parent)
{
    qRegisterMetaType<EvalResult>();
    task_ = new BackgroundTask(this);
    text_ = new QLineEdit(this);
    text_->setObjectName(QStringLiteral("evalText"));
    text_->setClearButtonEnabled(true);
    text_->setToolTip(
        tr("WikiText-2 (.raw), C4-style JSON lines (.jsonl) or any text file; "
           "empty for the demo: text sampled from the demo model"));
    browse_ = new QPushButton(tr("…"), this);
    browse_->setMaximumWidth(32);
    connect(browse_, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getOpenFileName(this, tr("Evaluation text"), text_->text(),
                                                 tr("Text (*.txt *.raw *.jsonl);;All files (*)"));
        if (!p.isEmpty())
            text_->setText(p);
    });
    window_ = new QSpinBox(this);
    window_->setObjectName(QStringLiteral("evalWindow"));
    window_->setRange(8, 32768);
    window_->setValue(128);
    window_->setToolTip(tr("L: tokens per window (clamped to the model's context)"));
    windows_ = new QSpinBox(this);
    windows_->setObjectName(QStringLiteral("evalWindows"));
    windows_->setRange(1, 100000);
    windows_->setValue(8);
    windows_->setToolTip(tr("At most this many windows"));
    prompt_ = new QLineEdit(this);
    prompt_->setObjectName(QStringLiteral("evalPrompt"));
    prompt_->setText(QStringLiteral("Once upon a time"));
    prompt_->setToolTip(tr("Both models continue this prompt greedily"));
    steps_ = new QSpinBox(this);
    steps_->setObjectName(QStringLiteral("evalSteps"));
    steps_->setRange(2, 4096);
    steps_->setValue(48);
    steps_->setToolTip(tr("Positions to generate, prompt included"));
    start_ = new QPushButton(tr("Evaluate"), this);
    start_->setObjectName(QStringLiteral("evalStart"));
    start_->setToolTip(tr("Perplexity and greedy text of the original and the quantized model"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setObjectName(QStringLiteral("evalCancel"));
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1);
    bar_->setValue(0);
    stage_ = new QLabel(this);
    stage_->setWordWrap(true);
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("evalSummary"));
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    plot_ = new PerplexityPlot(this);
    original_ = new QPlainTextEdit(this);
    original_->setObjectName(QStringLiteral("evalOriginalText"));
    quantizedText_ = new QPlainTextEdit(this);
    quantizedText_->setObjectName(QStringLiteral("evalQuantizedText"));
    distilledText_ = new QPlainTextEdit(this);
    distilledText_->setObjectName(QStringLiteral("evalDistilledText"));
    for (QPlainTextEdit* e : {original_, quantizedText_, distilledText_}) {
        e->setReadOnly(true);
        e->setPlaceholderText(tr("Greedy continuation of the prompt"));
    }

    auto* textRow = new QHBoxLayout;
    textRow->addWidget(text_, 1);
    textRow->addWidget(browse_);
    auto* form = new QFormLayout;
    form->addRow(tr("Text"), textRow);
    auto* sizes = new QHBoxLayout;
    sizes->addWidget(windows_);
    sizes->addWidget(new QLabel(tr("windows of"), this));
    sizes->addWidget(window_);
    sizes->addWidget(new QLabel(tr("tokens"), this));
    sizes->addStretch(1);
    form->addRow(tr("Windows"), sizes);
    auto* gen = new QHBoxLayout;
    gen->addWidget(prompt_, 1);
    gen->addWidget(new QLabel(tr("steps"), this));
    gen->addWidget(steps_);
    form->addRow(tr("Prompt"), gen);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(start_);
    buttons->addWidget(cancel_);
    buttons->addWidget(bar_, 1);
    auto* controls = new QVBoxLayout;
    controls->addLayout(form);
    controls->addLayout(buttons);
    controls->addWidget(stage_);
    controls->addWidget(summary_);
    controls->addStretch(1);
    auto* top = new QHBoxLayout;
    auto* controlsBox = new QWidget(this);
    controlsBox->setLayout(controls);
    controlsBox->setMaximumWidth(560);
    top->addWidget(controlsBox, 2);
    top->addWidget(plot_, 3);
    auto* texts = new QHBoxLayout;
    auto* ob = new QGroupBox(tr("Original model"), this);
    (new QVBoxLayout(ob))->addWidget(original_);
    auto* qb = new QGroupBox(tr("Quantized model"), this);
    (new QVBoxLayout(qb))->addWidget(quantizedText_);
    quantizedBox_ = qb;
    auto* db = new QGroupBox(tr("Distilled model"), this);
    (new QVBoxLayout(db))->addWidget(distilledText_);
    distilledBox_ = db;
    db->hide();
    texts->addWidget(ob);
    texts->addWidget(qb);
    texts->addWidget(db);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top, 3);
    layout->addLayout(texts, 2);

    connect(start_, &QPushButton::clicked, this, &EvalView::start);
    connect(cancel_, &QPushButton::clicked, this, &EvalView::cancel);
    connect(task_, &BackgroundTask::runningChanged, this, &EvalView::updateEnabled);
    connect(task_, &BackgroundTask::progress, this,
            [this](double done, double total, const QString& stage) {
                bar_->setRange(0, 1000);
                bar_->setValue(total > 0 ? static_cast<int>(1000.0 * done / total) : 0);
                stage_->setText(stage);
            });
    connect(task_, &BackgroundTask::finished, this, [this](const QVariant& v) {
        show(v.value<EvalResult>());
        Q_EMIT finished();
    });
    connect(task_, &BackgroundTask::cancelled, this, [this] {
        stage_->setText(tr("Cancelled; the previous results stay."));
        bar_->setValue(0);
    });
    connect(task_, &BackgroundTask::failed, this, [this](const QString& e) {
        stage_->setText(tr("Failed: %1").arg(e));
        bar_->setValue(0);
        Q_EMIT failed(tr("Evaluation: %1").arg(e));
    });
    updateEnabled();
}

QList<PlotView*> EvalView::plots() const
{
    return {plot_};
}

void EvalView::setInputs(ModelPtr model, QuantizedModelPtr quantized, QuantizedModelPtr undistilled)
{
    const bool changed = model != model_ || quantized != quantized_ || undistilled != undistilled_;
    model_ = std::move(model);
    quantized_ = std::move(quantized);
    undistilled_ = std::move(undistilled);
    distilledBox_->setVisible(undistilled_ != nullptr);
    static_cast<QGroupBox*>(quantizedBox_)
        ->setTitle(undistilled_ ? tr("Quantized model, before distillation")
                                : tr("Quantized model"));
    if (changed && task_->isRunning())
        task_->cancel();  // its numbers would belong to the previous run
    if (changed) {
        hasResult_ = false;
        plot_->clearPlot(tr("Evaluate to compare the original and the quantized model"));
        original_->clear();
        quantizedText_->clear();
        distilledText_->clear();
        summary_->clear();
    }
    if (model_ && model_->isDemo()) {
        text_->setPlaceholderText(tr("demo: text sampled from the model"));
        if (prompt_->text() == QLatin1String("Once upon a time"))
            prompt_->setText(QStringLiteral("ka to rin"));
    } else if (model_ && model_->samplesOwnText()) {
        text_->setPlaceholderText(tr("empty: text sampled from the original model"));
        if (prompt_->text() == QLatin1String("ka to rin"))
            prompt_->setText(QStringLiteral("Once upon a time"));
    } else {
        text_->setPlaceholderText(tr("a text file (required)"));
    }
    updateEnabled();
}

EvalSettings EvalView::settings() const
{
    EvalSettings s;
    s.textPath = text_->text().trimmed();
    s.tokenizer = tokenizer_;
    s.device = device_;
    s.window = window_->value();
    s.windows = windows_->value();
    s.prompt = prompt_->text();
    s.steps = steps_->value();
    return s;
}

void EvalView::setSettings(const EvalSettings& s)
{
    text_->setText(s.textPath);
    window_->setValue(s.window);
    windows_->setValue(s.windows);
    prompt_->setText(s.prompt);
    steps_->setValue(s.steps);
}

bool EvalView::isRunning() const
{
    return task_->isRunning();
}

bool EvalView::start()
{
    if (task_->isRunning())
        return false;
    if (!model_ || !quantized_) {
        const QString m =
            tr("Run a quantization job (or open a session) first: the evaluation "
               "compares the original model with the quantized one.");
        stage_->setText(m);
        Q_EMIT failed(m);
        return false;
    }
    if (!model_->hasWeights()) {
        const QString m = tr("The session's model is not available, so it cannot be evaluated.");
        stage_->setText(m);
        Q_EMIT failed(m);
        return false;
    }
    const EvalSettings s = settings();
    ModelPtr model = model_;
    // After a distillation here: the result it started from, then the distilled one.
    QuantizedModelPtr qm = undistilled_ ? undistilled_ : quantized_;
    QuantizedModelPtr distilled = undistilled_ ? quantized_ : nullptr;
    stage_->setText(tr("Starting…"));
    bar_->setRange(0, 0);
    return task_->start([model, qm, distilled, s](const zp::ProgressFn& progress) {
        return QVariant::fromValue(runEvaluation(model, qm, distilled, s, progress));
    });
}

void EvalView::cancel()
{
    task_->cancel();
}

void EvalView::updateEnabled()
{
    const bool running = task_->isRunning();
    start_->setEnabled(!running && model_ && quantized_);
    cancel_->setEnabled(running);
    for (QWidget* w :
         std::initializer_list<QWidget*>{text_, browse_, window_, windows_, prompt_, steps_})
        w->setEnabled(!running);
    if (!running && bar_->maximum() == 0)
        bar_->setRange(0, 1);
    if (!model_ || !quantized_)
        stage_->setText(tr("Run a job (or open a session) to evaluate the quantized model."));
    else if (!running && stage_->text().startsWith(tr("Run a job")))
        stage_->clear();
}

void EvalView::show(const EvalResult& r)
{
    result_ = r;
    hasResult_ = true;
    const QString what = tr("%1: %2 windows of %3 tokens").arg(r.what).arg(r.windows).arg(r.window);
    const JobSettings run = settingsOf(undistilled_ ? *undistilled_ : *quantized_);
    QStringList names{tr("original"), tr("quantized (%1)").arg(run.label())};
    std::vector<double> values{r.pplOriginal, r.pplQuantized};
    if (r.hasDistilled) {
        names << tr("distilled");
        values.push_back(r.pplDistilled);
    }
    plot_->setData(names, values, what);
    original_->setPlainText(r.prompt + QStringLiteral("▸") + r.textOriginal);
    quantizedText_->setPlainText(r.prompt + QStringLiteral("▸") + r.textQuantized);
    distilledText_->setPlainText(r.hasDistilled ? r.prompt + QStringLiteral("▸") + r.textDistilled
                                                : QString());
    QString text = tr("Perplexity on %1: original <b>%2</b>, quantized <b>%3</b> (%4x)")
                       .arg(what.toHtmlEscaped())
                       .arg(r.pplOriginal, 0, 'f', 3)
                       .arg(r.pplQuantized, 0, 'f', 3)
                       .arg(r.pplOriginal > 0 ? r.pplQuantized / r.pplOriginal : 0.0, 0, 'f', 3);
    if (r.hasDistilled)
        text += tr(", distilled <b>%1</b> (%2x)")
                    .arg(r.pplDistilled, 0, 'f', 3)
                    .arg(r.pplOriginal > 0 ? r.pplDistilled / r.pplOriginal : 0.0, 0, 'f', 3);
    summary_->setText(text + QStringLiteral("."));
    stage_->setText(tr("Done."));
    bar_->setRange(0, 1);
    bar_->setValue(1);
}
