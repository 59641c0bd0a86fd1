#include "app/gui/playgroundview.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>

#include "app/gui/colors.h"
#include "app/gui/plots/groupvaluesplot.h"
#include "app/gui/plots/scalelandscapeplot.h"
#include "app/gui/plots/zcurveplot.h"
#include "app/gui/recomputethread.h"

using zp::analysis::StudyMode;

namespace {

QColor modeColor(StudyMode m)
{
    switch (m) {
        case StudyMode::MinMax:
            return colors::minMax();
        case StudyMode::NeUQI:
            return colors::neuqi();
        case StudyMode::NeUQIInt:
            return colors::neuqiInt();
        case StudyMode::Manual:
            return colors::manual();
    }
    return colors::neuqi();
}

QString modeName(StudyMode m)
{
    switch (m) {
        case StudyMode::MinMax:
            return QObject::tr("Min-Max");
        case StudyMode::NeUQI:
            return QObject::tr("NeUQI");
        case StudyMode::NeUQIInt:
            return QObject::tr("NeUQI (integer z)");
        case StudyMode::Manual:
            return QObject::tr("manual");
    }
    return QString();
}

}  // namespace

PlaygroundView::PlaygroundView(QWidget* parent) : QWidget(parent)
{
    qRegisterMetaType<PlaygroundResult>();
    distribution_ = new QComboBox(this);
    distribution_->setObjectName(QStringLiteral("playDistribution"));
    distribution_->addItems(
        {tr("normal"), tr("Laplace"), tr("Student-t (4 dof)"), tr("uniform"), tr("bimodal")});
    distribution_->setToolTip(
        tr("The shape of the weights (standard deviation about 0.02, like LLM weights)"));
    outliers_ = new QDoubleSpinBox(this);
    outliers_->setObjectName(QStringLiteral("playOutliers"));
    outliers_->setRange(0.0, 0.2);
    outliers_->setSingleStep(0.005);
    outliers_->setDecimals(3);
    outliers_->setValue(0.01);
    outliers_->setToolTip(tr("Share of weights pushed out to 4..8 standard deviations"));
    size_ = new QSpinBox(this);
    size_->setObjectName(QStringLiteral("playSize"));
    size_->setRange(8, 4096);
    size_->setValue(128);
    size_->setToolTip(
        tr("Weights in the group (a group of 128 columns, or a whole row up to 4096)"));
    seed_ = new QSpinBox(this);
    seed_->setObjectName(QStringLiteral("playSeed"));
    seed_->setRange(0, 1 << 30);
    seed_->setValue(1);
    seed_->setToolTip(tr("Random seed of the group"));
    importance_ = new QComboBox(this);
    importance_->setObjectName(QStringLiteral("playImportance"));
    importance_->addItems({tr("flat (plain MSE)"), tr("few heavy columns"), tr("log-normal")});
    importance_->setToolTip(
        tr("The importance h of each weight (a stand-in for the Hessian diagonal)"));
    bits_ = new QSlider(Qt::Horizontal, this);
    bits_->setObjectName(QStringLiteral("playBits"));
    bits_->setRange(2, 8);
    bits_->setValue(2);
    bits_->setPageStep(1);
    bits_->setTickPosition(QSlider::TicksBelow);
    bits_->setToolTip(tr("Bits per weight: 2^bits levels"));
    bitsLabel_ = new QLabel(this);
    mode_ = new QComboBox(this);
    mode_->setObjectName(QStringLiteral("playMode"));
    mode_->addItems(
        {tr("Min-Max"), tr("NeUQI"), tr("NeUQI (integer z)"), tr("manual scale and zero")});
    mode_->setCurrentIndex(1);
    mode_->setToolTip(tr("Which parameters to show"));
    scale_ = new QSlider(Qt::Horizontal, this);
    scale_->setObjectName(QStringLiteral("playScale"));
    scale_->setRange(10, 1500);  // s / s0 in thousandths
    scale_->setValue(1000);
    scale_->setToolTip(tr("Manual scale as a fraction of the Min-Max scale s0"));
    scaleLabel_ = new QLabel(this);
    zero_ = new QSlider(Qt::Horizontal, this);
    zero_->setObjectName(QStringLiteral("playZero"));
    zero_->setToolTip(tr("Manual zero-point (any real number)"));
    zeroLabel_ = new QLabel(this);
    loss_ = new QLabel(this);
    loss_->setObjectName(QStringLiteral("playLoss"));
    loss_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    loss_->setWordWrap(true);
    explanation_ = new QLabel(this);
    explanation_->setObjectName(QStringLiteral("playExplanation"));
    explanation_->setWordWrap(true);
    explanation_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* groupBox = new QGroupBox(tr("Group"), this);
    auto* gf = new QFormLayout(groupBox);
    gf->addRow(tr("Distribution"), distribution_);
    gf->addRow(tr("Outliers"), outliers_);
    gf->addRow(tr("Size"), size_);
    gf->addRow(tr("Seed"), seed_);
    gf->addRow(tr("Importance"), importance_);
    auto* quantBox = new QGroupBox(tr("Quantizer"), this);
    auto* qf = new QFormLayout(quantBox);
    auto* bitsRow = new QHBoxLayout;
    bitsRow->addWidget(bits_, 1);
    bitsRow->addWidget(bitsLabel_);
    qf->addRow(tr("Bits"), bitsRow);
    qf->addRow(tr("Mode"), mode_);
    auto* sRow = new QHBoxLayout;
    sRow->addWidget(scale_, 1);
    sRow->addWidget(scaleLabel_);
    qf->addRow(tr("Scale"), sRow);
    auto* zRow = new QHBoxLayout;
    zRow->addWidget(zero_, 1);
    zRow->addWidget(zeroLabel_);
    qf->addRow(tr("Zero"), zRow);
    auto* outBox = new QGroupBox(tr("Result"), this);
    auto* ol = new QVBoxLayout(outBox);
    ol->addWidget(loss_);
    ol->addWidget(explanation_);
    ol->addStretch(1);
    auto* left = new QVBoxLayout;
    left->addWidget(groupBox);
    left->addWidget(quantBox);
    left->addWidget(outBox, 1);
    auto* leftWidget = new QWidget(this);
    leftWidget->setLayout(left);
    leftWidget->setMaximumWidth(380);
    leftWidget->setMinimumWidth(300);

    values_ = new GroupValuesPlot(this);
    zcurve_ = new ZCurvePlot(this);
    landscape_ = new ScaleLandscapePlot(this);
    auto* plots = new QGridLayout;
    plots->addWidget(values_, 0, 0, 1, 2);
    plots->addWidget(zcurve_, 1, 0);
    plots->addWidget(landscape_, 1, 1);
    plots->setRowStretch(0, 1);
    plots->setRowStretch(1, 1);
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(leftWidget);
    layout->addLayout(plots, 1);

    thread_ = new RecomputeThread(this);
    connect(thread_, &RecomputeThread::computed, this,
            [this](const QVariant& v) { show(v.value<PlaygroundResult>()); });
    connect(thread_, &RecomputeThread::failed, this, [this](const QString& m) {
        loss_->setText(tr("<span style='color:#b00020'>%1</span>").arg(m.toHtmlEscaped()));
    });
    auto changed = [this] {
        updateLabels();
        request();
    };
    connect(distribution_, &QComboBox::currentIndexChanged, this, changed);
    connect(outliers_, &QDoubleSpinBox::valueChanged, this, changed);
    connect(size_, &QSpinBox::valueChanged, this, changed);
    connect(seed_, &QSpinBox::valueChanged, this, changed);
    connect(importance_, &QComboBox::currentIndexChanged, this, changed);
    connect(bits_, &QSlider::valueChanged, this, changed);
    connect(scale_, &QSlider::valueChanged, this, changed);
    connect(zero_, &QSlider::valueChanged, this, changed);
    connect(mode_, &QComboBox::currentIndexChanged, this, [this] {
        // Entering manual mode starts from the parameters on show, so the student moves from there.
        if (mode_->currentIndex() == 3 && result_.study.s0 > 0) {
            restoring_ = true;
            scale_->setValue(static_cast<int>(
                std::lround(1000.0 * result_.study.shown.scale / result_.study.s0)));
            zero_->setValue(static_cast<int>(std::lround(100.0 * result_.study.shown.zero)));
            restoring_ = false;
        }
        updateLabels();
        request();
    });
    updateLabels();
    request();
}

QList<PlotView*> PlaygroundView::plots() const
{
    return {values_, zcurve_, landscape_};
}

QString PlaygroundView::lossText() const
{
    return loss_->text();
}

QString PlaygroundView::explanation() const
{
    return explanation_->text();
}

bool PlaygroundView::isComputing() const
{
    return thread_->isBusy();
}

void PlaygroundView::updateLabels()
{
    const int levels = 1 << bits_->value();
    bitsLabel_->setText(tr("%1 (%2 levels)").arg(bits_->value()).arg(levels));
    const bool wasRestoring = restoring_;
    restoring_ = true;
    zero_->setRange(-100, levels * 100);
    restoring_ = wasRestoring;
    scaleLabel_->setText(tr("%1 s0").arg(scale_->value() / 1000.0, 0, 'f', 3));
    zeroLabel_->setText(QString::number(zero_->value() / 100.0, 'f', 2));
    const bool manual = mode_->currentIndex() == 3;
    for (QWidget* w : std::initializer_list<QWidget*>{scale_, zero_, scaleLabel_, zeroLabel_})
        w->setEnabled(manual);
}

void PlaygroundView::request()
{
    if (restoring_)
        return;
    PlaygroundResult job;
    job.spec.distribution = static_cast<zp::demo::GroupDistribution>(distribution_->currentIndex());
    job.spec.outlier_fraction = outliers_->value();
    job.spec.size = size_->value();
    job.spec.seed = static_cast<uint64_t>(seed_->value());
    job.spec.importance = static_cast<zp::demo::ImportanceProfile>(importance_->currentIndex());
    job.mode = static_cast<StudyMode>(mode_->currentIndex());
    zp::analysis::StudyRequest q;
    q.bits = bits_->value();
    q.mode = job.mode;
    q.manual_scale = scale_->value() / 1000.0;
    q.manual_scale_relative = true;
    q.manual_zero = zero_->value() / 100.0;
    thread_->request([job, q](const std::function<bool()>& wanted) mutable {
        job.w = zp::demo::synthetic_group_weights(job.spec);
        q.w = job.w;
        q.h = zp::demo::synthetic_group_importance(job.spec);
        job.study = zp::analysis::study_group(
            q, [&wanted](double, double, const std::string&) { return wanted(); });
        return QVariant::fromValue(job);
    });
}

void PlaygroundView::show(const PlaygroundResult& r)
{
    result_ = r;
    const auto& g = r.study;
    const QColor color = modeColor(r.mode);
    values_->setData(r.w, g.quantized, g.levels, color, modeName(r.mode));
    std::vector<PlotMarker> zm;
    if (r.mode != StudyMode::MinMax)
        zm.push_back({tr("%1 z").arg(modeName(r.mode)), color, g.shown.zero, g.shown.loss});
    if (std::abs(g.shown.scale - g.minmax.scale) < 1e-12 * g.minmax.scale ||
        r.mode == StudyMode::MinMax)
        zm.push_back({tr("Min-Max z"), colors::minMax(), g.minmax.zero, g.minmax.loss});
    zcurve_->setData(g.zcurve, zm);
    ScaleCurve sc;
    sc.s0 = g.s0;
    sc.scale = g.landscape_scale;
    sc.loss = g.landscape_loss;
    sc.markers.push_back({tr("NeUQI (best found)"), colors::neuqi(), g.neuqi.scale, g.neuqi.loss});
    sc.markers.push_back({tr("Min-Max"), colors::minMax(), g.minmax.scale, g.minmax.loss});
    if (r.mode == StudyMode::NeUQIInt)
        sc.markers.push_back(
            {tr("NeUQI (integer z)"), colors::neuqiInt(), g.neuqi_int.scale, g.neuqi_int.loss});
    if (r.mode == StudyMode::Manual)
        sc.markers.push_back({tr("manual"), colors::manual(), g.shown.scale, g.shown.loss});
    landscape_->setData(sc);
    loss_->setText(
        tr("<b>%1</b>: s = %2 (%3 s0), z = %4<br>loss L = <b>%5</b>, <b>%6x</b> the optimum "
           "(NeUQI L = %7; Min-Max %8x)")
            .arg(modeName(r.mode))
            .arg(g.shown.scale, 0, 'g', 4)
            .arg(g.shown.scale / g.s0, 0, 'f', 3)
            .arg(g.shown.zero, 0, 'f', 3)
            .arg(g.shown.loss, 0, 'g', 4)
            .arg(g.ratio_to_optimum, 0, 'f', 3)
            .arg(g.optimum_loss, 0, 'g', 4)
            .arg(g.ratio_minmax, 0, 'f', 3));
    explanation_->setText(explain(r));
    Q_EMIT updated();
}

QString PlaygroundView::explain(const PlaygroundResult& r)
{
    const auto& g = r.study;
    const int levels = 1 << g.bits;
    const int clipped = g.clipped_low + g.clipped_high;
    const double lo = r.w.empty() ? 0 : *std::min_element(r.w.begin(), r.w.end());
    const double hi = r.w.empty() ? 0 : *std::max_element(r.w.begin(), r.w.end());
    switch (r.mode) {
        case StudyMode::MinMax:
            return tr("Min-Max spreads the %1 levels evenly from the smallest weight (%2) to the "
                      "largest (%3), so the step "
                      "is s0 = %4, and rounds the zero-point to the integer %5. ")
                       .arg(levels)
                       .arg(lo, 0, 'g', 3)
                       .arg(hi, 0, 'g', 3)
                       .arg(g.s0, 0, 'g', 3)
                       .arg(g.minmax.zero, 0, 'f', 0) +
                   (g.ratio_minmax > 1.05 ? tr("Its loss is %1x the optimum: the extreme weights "
                                               "stretch the grid, so the dense middle gets "
                                               "few levels.")
                                                .arg(g.ratio_minmax, 0, 'f', 2)
                                          : tr("Here that is close to the optimum (%1x): the "
                                               "weights fill their range evenly.")
                                                .arg(g.ratio_minmax, 0, 'f', 2));
        case StudyMode::NeUQI:
            return tr("NeUQI tries scales s = s0 i/2048 and, for each, solves exactly for the best "
                      "real zero-point z*(s); "
                      "it kept s = %1 s0 and z* = %2. ")
                       .arg(g.neuqi.scale / g.s0, 0, 'f', 3)
                       .arg(g.neuqi.zero, 0, 'f', 3) +
                   (clipped > 0 ? tr("Its loss is %1x lower than Min-Max's: it clips %2 extreme "
                                     "weights to buy a finer "
                                     "step where the weights are dense.")
                                      .arg(g.ratio_minmax, 0, 'f', 2)
                                      .arg(clipped)
                                : tr("Its loss is %1x lower than Min-Max's without clipping any "
                                     "weight: the gain comes "
                                     "from placing the grid (z) better.")
                                      .arg(g.ratio_minmax, 0, 'f', 2));
        case StudyMode::NeUQIInt:
            return tr("NeUQI with integer z searches all 2048 scales but only the %1 integer "
                      "zero-points; it kept s = %2 s0 "
                      "and z = %3. ")
                       .arg(levels)
                       .arg(g.shown.scale / g.s0, 0, 'f', 3)
                       .arg(g.shown.zero, 0, 'f', 0) +
                   tr("Its loss is %1x the optimum with a real-valued z, and %2x lower than "
                      "Min-Max's.")
                       .arg(g.ratio_to_optimum, 0, 'f', 3)
                       .arg(g.ratio_minmax * g.optimum_loss / std::max(g.shown.loss, 1e-300), 0,
                            'f', 2);
        case StudyMode::Manual:
            return tr("With s = %1 s0 and z = %2 the levels run from %3 to %4 and %5 of %6 weights "
                      "are clipped. ")
                       .arg(g.shown.scale / g.s0, 0, 'f', 3)
                       .arg(g.shown.zero, 0, 'f', 2)
                       .arg(g.levels.front(), 0, 'g', 3)
                       .arg(g.levels.back(), 0, 'g', 3)
                       .arg(clipped)
                       .arg(r.w.size()) +
                   tr("The loss is %1x the optimum; at this scale the best zero-point would be z* "
                      "= %2 (the star in L(z)).")
                       .arg(g.ratio_to_optimum, 0, 'f', 3)
                       .arg(g.zcurve.z_opt, 0, 'f', 3);
    }
    return QString();
}

void PlaygroundView::saveSettings(QSettings& s) const
{
    s.beginGroup(QStringLiteral("playground"));
    s.setValue("distribution", distribution_->currentIndex());
    s.setValue("outliers", outliers_->value());
    s.setValue("size", size_->value());
    s.setValue("seed", seed_->value());
    s.setValue("importance", importance_->currentIndex());
    s.setValue("bits", bits_->value());
    s.setValue("mode", mode_->currentIndex());
    s.setValue("scale", scale_->value());
    s.setValue("zero", zero_->value());
    s.endGroup();
}

void PlaygroundView::restoreSettings(const QSettings& s)
{
    restoring_ = true;
    const QString g = QStringLiteral("playground/");
    distribution_->setCurrentIndex(s.value(g + "distribution", 0).toInt());
    outliers_->setValue(s.value(g + "outliers", 0.01).toDouble());
    size_->setValue(s.value(g + "size", 128).toInt());
    seed_->setValue(s.value(g + "seed", 1).toInt());
    importance_->setCurrentIndex(s.value(g + "importance", 0).toInt());
    bits_->setValue(s.value(g + "bits", 2).toInt());
    mode_->setCurrentIndex(s.value(g + "mode", 1).toInt());
    updateLabels();
    scale_->setValue(s.value(g + "scale", 1000).toInt());
    zero_->setValue(s.value(g + "zero", 0).toInt());
    restoring_ = false;
    updateLabels();
    request();
}
