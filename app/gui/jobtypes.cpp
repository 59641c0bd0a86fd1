#include "app/gui/jobtypes.h"

#include <algorithm>

#include "core/analysis/layer_figures.h"
#include "core/common/error.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"

JobSettings::JobSettings()
{
    const zp::pipeline::RunOptions d;
    setPipeline(QString::fromStdString(d.text("method")));
    bits = static_cast<int>(d.integer("bits"));
    groupSize = d.integer("group");
    seed = static_cast<uint64_t>(d.integer("seed"));
    device = QString::fromStdString(d.text("device"));
    calibPath = QString::fromStdString(d.text("calib"));
    calibFormat = QString::fromStdString(d.text("calib_format"));
    nsamples = static_cast<int>(d.integer("nsamples"));
    seqlen = static_cast<int>(d.integer("seqlen"));
    wclip = d.real("wclip");
    protect = QString::fromStdString(d.text("protect"));
    preset = QString::fromStdString(d.text("preset"));
    bpw = d.real("bpw");
    abits = static_cast<int>(d.integer("abits"));
    aclip = d.real("aclip");
    transform = QString::fromStdString(d.text("transform"));
    alpha = d.real("alpha");
    rotBlock = d.integer("rot_block");
    rotSteps = static_cast<int>(d.integer("rot_steps"));
    givensRounds = static_cast<int>(d.integer("givens_rounds"));
    givens = QString::fromStdString(d.text("givens"));
    rotTokens = d.integer("rot_tokens");
    finetuneEpochs = static_cast<int>(d.integer("finetune_epochs"));
    finetuneLr = d.real("finetune_lr");
}

DistillSettings::DistillSettings()
{
    const zp::pipeline::RunOptions d;
    lr = d.real("lr");
    epochs = static_cast<int>(d.integer("epochs"));
    warmup = d.real("warmup");
    batch = d.integer("distill_batch");
    trainNorms = d.flag("train_norms");
    calibPath = QString::fromStdString(d.text("calib"));
    calibFormat = QString::fromStdString(d.text("calib_format"));
    nsamples = static_cast<int>(d.integer("nsamples"));
    seqlen = static_cast<int>(d.integer("seqlen"));
    seed = static_cast<uint64_t>(d.integer("seed"));
    device = QString::fromStdString(d.text("device"));
}

namespace {

// The table's text for a real value (as the command line would write it).
std::string realText(double v)
{
    return QString::number(v, 'g', 17).toStdString();
}

// The run options of these settings, each checked by the table.
zp::pipeline::RunOptions runOptionsOf(const JobSettings& s)
{
    zp::pipeline::RunOptions r;
    r.set("method", s.pipeline.toStdString(), "job settings");
    r.set("bits", std::to_string(s.bits), "job settings");
    r.set("group", std::to_string(s.groupSize), "job settings");
    r.set("seed", std::to_string(s.seed), "job settings");
    r.set("device", s.device.toStdString(), "job settings");
    r.set("wclip", realText(s.wclip), "job settings");
    r.set("protect", s.protect.trimmed().toStdString(), "job settings");
    r.set("preset", s.preset.toStdString(), "job settings");
    r.set("bpw", realText(s.bpw), "job settings");
    r.set("abits", std::to_string(s.abits), "job settings");
    r.set("aclip", realText(s.aclip), "job settings");
    r.set("transform", s.transform.toStdString(), "job settings");
    r.set("alpha", realText(s.alpha), "job settings");
    r.set("rot_block", std::to_string(s.rotBlock), "job settings");
    r.set("rot_steps", std::to_string(s.rotSteps), "job settings");
    r.set("givens_rounds", std::to_string(s.givensRounds), "job settings");
    r.set("givens", s.givens.toStdString(), "job settings");
    r.set("rot_tokens", std::to_string(s.rotTokens), "job settings");
    r.set("finetune_epochs", std::to_string(s.finetuneEpochs), "job settings");
    r.set("finetune_lr", realText(s.finetuneLr), "job settings");
    return r;
}

zp::pipeline::RunOptions runOptionsOf(const DistillSettings& s)
{
    const char* where = "distillation settings";
    zp::pipeline::RunOptions r;
    r.set("lr", realText(s.lr), where);
    r.set("epochs", std::to_string(s.epochs), where);
    r.set("warmup", realText(s.warmup), where);
    r.set("distill_batch", std::to_string(s.batch), where);
    r.set("train_norms", s.trainNorms ? "true" : "false", where);
    r.set("calib", s.calibPath.toStdString(), where);
    r.set("calib_format", s.calibFormat.toStdString(), where);
    r.set("nsamples", std::to_string(s.nsamples), where);
    r.set("seqlen", std::to_string(s.seqlen), where);
    r.set("seed", std::to_string(s.seed), where);
    r.set("device", s.device.toStdString(), where);
    return r;
}

}  // namespace

zp::quant::TransformOptions JobSettings::transformOptions() const
{
    return runOptionsOf(*this).pipeline_options().transform;
}

zp::pipeline::PipelineOptions JobSettings::pipelineOptions() const
{
    return runOptionsOf(*this).pipeline_options();
}

zp::pipeline::DistillOptions DistillSettings::distillOptions() const
{
    return runOptionsOf(*this).distill_options();
}

zp::pipeline::CalibrationRequest DistillSettings::calibration() const
{
    return runOptionsOf(*this).calibration();
}

QString DistillSettings::describe() const
{
    const QString calib =
        calibPath.isEmpty()
            ? QStringLiteral("%1 x %2 sampled (seed %3)").arg(nsamples).arg(seqlen).arg(seed)
            : QStringLiteral("%1 x %2 of %3 (seed %4)")
                  .arg(nsamples)
                  .arg(seqlen)
                  .arg(calibPath.section('/', -1))
                  .arg(seed);
    return QStringLiteral("lr %1, %2 epoch%3, warm-up %4, batch %5, %6, %7, %8")
        .arg(lr)
        .arg(epochs)
        .arg(epochs == 1 ? QString() : QStringLiteral("s"))
        .arg(warmup)
        .arg(static_cast<qlonglong>(batch))
        .arg(trainNorms ? QStringLiteral("norms trained") : QStringLiteral("norms frozen"))
        .arg(calib, device);
}

QString JobSettings::bitsLabel() const
{
    return abits < 16 ? QStringLiteral("W%1A%2").arg(bits).arg(abits)
                      : QStringLiteral("W%1").arg(bits);
}

bool JobSettings::setPipeline(const QString& name)
{
    for (const zp::pipeline::PipelineMethod& m : zp::pipeline::pipeline_methods())
        if (name == QLatin1String(m.name)) {
            pipeline = name;
            method = m.params;
            return true;
        }
    return false;
}

bool JobSettings::isGptq() const
{
    return pipeline.startsWith(QLatin1String("gptq"));
}

zp::quant::QuantConfig JobSettings::quantConfig() const
{
    zp::quant::QuantConfig c;
    c.method = method;
    c.bits = bits;
    c.group_size = groupSize;
    return c;
}

QString JobSettings::label() const
{
    for (const zp::pipeline::PipelineMethod& m : zp::pipeline::pipeline_methods())
        if (pipeline == QLatin1String(m.name))
            return QString::fromUtf8(m.label);
    return methodLabel(method);
}

QString JobSettings::describe() const
{
    QString calib =
        calibPath.isEmpty()
            ? QStringLiteral("calibration %1 x %2 (seed %3)").arg(nsamples).arg(seqlen).arg(seed)
            : QStringLiteral("calibration %1 x %2 of %3 (seed %4)")
                  .arg(nsamples)
                  .arg(seqlen)
                  .arg(calibPath.section('/', -1))
                  .arg(seed);
    QString act;
    if (abits < 16)
        act += QStringLiteral(", A%1 (clip %2)").arg(abits).arg(aclip);
    if (transform != QLatin1String("none")) {
        QString kind = transform;
        for (const zp::quant::TransformKindInfo& k : zp::quant::transform_kinds())
            if (transform == QLatin1String(k.name))
                kind = QString::fromUtf8(k.label);
        act += QStringLiteral(", %1 (alpha %2)").arg(kind).arg(alpha);
    }
    if (wclip != 1.0)
        act += QStringLiteral(", weight clip %1").arg(wclip);
    return QStringLiteral("%1, %2 bits, %3, %4%5, %6")
        .arg(label())
        .arg(bits)
        .arg(groupSize < 0 ? QStringLiteral("channel-wise") : QStringLiteral("g%1").arg(groupSize))
        .arg(calib, act)
        .arg(device);
}

QString methodLabel(zp::quant::Method m)
{
    return QString::fromUtf8(zp::quant::method_info(m).label);
}

QString formatSeconds(double s)
{
    if (s < 0)
        return QStringLiteral("?");
    if (s < 60)
        return QStringLiteral("%1 s").arg(s, 0, 'f', s < 10 ? 1 : 0);
    int t = static_cast<int>(s + 0.5);
    return QStringLiteral("%1 min %2 s").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
}

JobSettings settingsOf(const zp::quant::QuantizedModel& qm)
{
    JobSettings s;
    s.setPipeline(QString::fromStdString(qm.config.method));
    s.bits = qm.config.bits;
    s.groupSize = qm.config.group_size;
    s.seed = qm.config.seed;
    s.calibPath = QString::fromStdString(qm.config.calibration_source);
    s.nsamples = static_cast<int>(qm.config.calibration_samples);
    s.seqlen = static_cast<int>(qm.config.calibration_seqlen);
    // The recorded run options, read back through the table.
    zp::pipeline::RunOptions ro;
    try {
        zp::pipeline::apply_record(ro, qm.config.extra, "session run record");
        s.device = QString::fromStdString(ro.text("device"));
        s.wclip = ro.real("wclip");
        s.protect = QString::fromStdString(ro.text("protect"));
        s.preset = QString::fromStdString(ro.text("preset"));
        s.bpw = ro.real("bpw");
        s.abits = static_cast<int>(ro.integer("abits"));
        s.aclip = ro.real("aclip");
        s.transform = QString::fromStdString(ro.text("transform"));
        s.alpha = ro.real("alpha");
        s.rotBlock = ro.integer("rot_block");
        s.rotSteps = static_cast<int>(ro.integer("rot_steps"));
        s.givensRounds = static_cast<int>(ro.integer("givens_rounds"));
        s.givens = QString::fromStdString(ro.text("givens"));
        s.rotTokens = ro.integer("rot_tokens");
        s.finetuneEpochs = static_cast<int>(ro.integer("finetune_epochs"));
        s.finetuneLr = ro.real("finetune_lr");
    } catch (const zp::InvalidArgument&) {
        // A record this build's table refuses: the settings keep their defaults.
    }
    return s;
}

QString LayerResult::lossName() const
{
    return comparesOutputError() ? QObject::tr("output loss") : QObject::tr("diag loss");
}

LayerResult toViewResult(int layer, const zp::quant::LayerResult& r, const JobSettings& run,
                         const at::Tensor& W)
{
    LayerResult v;
    v.layer = layer;
    v.settings = run;
    // Per-layer overrides: the layer's own bits and rule.
    v.settings.bits = r.bits;
    v.settings.groupSize = r.group_size <= 0 || r.group_size == r.in_features ? -1 : r.group_size;
    if (!r.param_method.empty())
        v.settings.method = zp::quant::parse_method(r.param_method);
    v.groupSize = r.group_size;
    v.diagLoss = r.diag_loss;
    v.diagLossMinMax = r.diag_loss_minmax;
    v.gptq = r.algorithm == zp::quant::Algorithm::GPTQ;
    v.proxyLoss = r.proxy_loss;
    v.proxyLossMinMax = r.proxy_loss_rtn_minmax;
    v.seconds = r.seconds;
    v.scale = r.scale;
    v.zero = r.zero;
    v.importance = r.hessian_diag.defined() ? r.hessian_diag.to(at::kDouble) : at::Tensor();
    if (W.defined() && !r.skipped) {
        zp::analysis::LayerFigures f = zp::analysis::layer_figures(W, r);
        v.groupLoss = f.group_loss;
        v.groupLossMinMax = f.group_loss_minmax;
        v.importance = f.importance;
        v.engine = std::make_shared<const zp::quant::LayerResult>(r);
        std::vector<zp::analysis::ClippedWeight> clipped =
            zp::analysis::clipped_outliers(W, r, LayerResult::kClippedFloor);
        std::sort(clipped.begin(), clipped.end(),
                  [](const auto& a, const auto& b) { return a.sigmas > b.sigmas; });
        for (const zp::analysis::ClippedWeight& c : clipped)
            v.clippedSigmas.push_back(static_cast<float>(c.sigmas));
        if (!clipped.empty())
            v.worstClipped = clipped.front();
        v.clippedKnown = true;
    }
    return v;
}

int LayerResult::clippedBeyond(double k) const
{
    // clippedSigmas decreases: the count is the first position below k.
    const auto end = std::partition_point(clippedSigmas.begin(), clippedSigmas.end(),
                                          [k](float z) { return z >= k; });
    return static_cast<int>(end - clippedSigmas.begin());
}
