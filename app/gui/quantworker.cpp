#include "app/gui/quantworker.h"

#include <QElapsedTimer>
#include <QFileInfo>

#include <map>
#include <mutex>
#include <utility>

#include "core/common/error.h"
#include "core/common/progress.h"
#include "core/data/calibration.h"
#include "core/demo/demo_model.h"
#include "core/model/model.h"
#include "core/pipeline/distill.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/prepare.h"
#include "core/tokenizer/tokenizer.h"

void QuantWorker::run(ModelPtr model, JobSettings s)
{
    QElapsedTimer clock;
    clock.start();
    JobSummary summary;
    const auto& layers = model->layers();
    JobProgress p;
    p.layerCount = static_cast<int>(layers.size());
    p.blockCount = model->blockCount();
    const int types = std::max(1, static_cast<int>(model->layerTypes().size()));
    QString current;
    try {
        std::unique_ptr<zp::model::Model> engine = model->openEngine();
        // Every run option (method, bits, clips, activation bits, transform and its settings,
        // seeds) through the one table, as the command line reads them.
        zp::pipeline::PipelineOptions o = s.pipelineOptions();
        o.write_back = false;
        Q_EMIT message(QStringLiteral("Job: %1 on %2 (%3 layers)")
                           .arg(s.describe(), model->name())
                           .arg(layers.size()));
        zp::pipeline::CalibrationRequest cr;
        cr.path = s.calibPath.toStdString();
        cr.format = s.calibFormat.toStdString();
        cr.nsamples = s.nsamples;
        cr.seqlen = s.seqlen;
        cr.seed = s.seed;
        std::unique_ptr<zp::tok::Tokenizer> tok;
        auto tokenizer = [&]() -> const zp::tok::Tokenizer* {
            if (!tok)
                tok = openTokenizer(*model, s.tokenizer);
            return tok.get();
        };
        // The demos sample their calibration text from the model itself when no file is given.
        std::function<at::Tensor(int64_t)> demoCalibration;
        if (model->samplesOwnText())
            demoCalibration = [&](int64_t seqlen) {
                p.stage = QStringLiteral("drawing the calibration set");
                Q_EMIT progress(p);
                return zp::demo::demo_calibration(*engine, s.nsamples, seqlen, s.seed);
            };
        if (!s.calibPath.isEmpty()) {
            p.stage = QStringLiteral("drawing the calibration set");
            Q_EMIT progress(p);
        }
        const zp::pipeline::PreparedCalibration pc = zp::pipeline::prepare_run(
            *engine, o, cr, tokenizer, demoCalibration, "demo (sampled from the model)");
        if (pc.drawn && s.calibPath.isEmpty())
            Q_EMIT message(QStringLiteral("Calibration: %1 x %2 tokens sampled from the model "
                                          "itself (temperature 1, seed %3)")
                               .arg(s.nsamples)
                               .arg(pc.seqlen)
                               .arg(s.seed));
        else if (pc.drawn)
            Q_EMIT message(QStringLiteral("Calibration: %1 x %2 tokens from %3 (%4 tokens "
                                          "available, seed %5)")
                               .arg(s.nsamples)
                               .arg(pc.seqlen)
                               .arg(QString::fromStdString(pc.source))
                               .arg(pc.tokens_available)
                               .arg(s.seed));
        Q_EMIT message(model->importanceNote());

        // The original weights of the block being reported (the engine instance is never written
        // back, so block() gives the originals).
        std::map<int64_t, zp::model::BlockWeights> blocks;
        auto originalOf = [&](int64_t b, const std::string& name) -> at::Tensor {
            auto it = blocks.find(b);
            if (it == blocks.end()) {
                blocks.clear();
                it = blocks.emplace(b, engine->block(b)).first;
            }
            return it->second.linear(name);
        };
        int reported = 0;
        auto emitLayer = [&](const zp::quant::LayerResult& r) {
            const int index = layerIndexOf(*model, r.block, r.name);
            ++reported;
            if (index < 0 || r.skipped)
                return;
            LayerResult v = toViewResult(index, r, s, originalOf(r.block, r.name));
            summary.layersDone += 1;
            summary.diagLoss += v.diagLoss;
            summary.diagLossMinMax += v.diagLossMinMax;
            summary.loss += v.loss();
            summary.lossMinMax += v.lossMinMax();
            Q_EMIT layerFinished(v);
        };
        o.on_layer = [&](const zp::quant::LayerResult& r) {
            emitLayer(r);
        };  // live, layer by layer
        o.progress = [&](double done, double total, const std::string& stage) {
            p.layersDone = static_cast<int>(done);
            p.layerCount = static_cast<int>(total);
            p.block = std::min(p.blockCount - 1, p.layersDone / types);
            const int li = std::min(p.layersDone, static_cast<int>(layers.size()) - 1);
            p.layerName = done < total && li >= 0 ? layers[li].name : QString();
            current = p.layerName;
            p.stage = QString::fromStdString(stage);
            p.elapsed = clock.elapsed() / 1000.0;
            p.eta = zp::eta_seconds(p.elapsed, done, total);
            Q_EMIT progress(p);
            return !cancel_.load();
        };
        zp::quant::QuantizedModel qm = zp::pipeline::quantize_model(*engine, o);
        if (model->isDemo())
            qm.config.model_path = zp::demo::kDemoModelPath;
        p.layersDone = p.layerCount;
        p.elapsed = clock.elapsed() / 1000.0;
        p.eta = 0.0;
        p.layerName.clear();
        p.stage = QStringLiteral("done");
        Q_EMIT progress(p);
        summary.seconds = clock.elapsed() / 1000.0;
        Q_EMIT quantized(std::make_shared<const zp::quant::QuantizedModel>(std::move(qm)));
        Q_EMIT finished(summary);
    } catch (const zp::Cancelled&) {
        summary.seconds = clock.elapsed() / 1000.0;
        Q_EMIT cancelled(summary);
    } catch (const std::exception& e) {
        summary.seconds = clock.elapsed() / 1000.0;
        // c10::Error carries a long backtrace after the first line; the first line is the message.
        QString what = QString::fromUtf8(e.what()).section('\n', 0, 0);
        Q_EMIT failed(current.isEmpty() ? what : QStringLiteral("%1: %2").arg(current, what),
                      summary);
    }
}

void QuantWorker::runDistill(ModelPtr model, QuantizedModelPtr qm, DistillSettings s)
{
    QElapsedTimer clock;
    clock.start();
    JobSummary summary;
    JobProgress p;
    p.distill = true;
    p.blockCount = model->blockCount();
    try {
        if (!qm)
            throw zp::InvalidArgument("distillation needs a quantized result");
        // Every option through the one table, as zeropoint-cli distill reads them.
        zp::pipeline::DistillOptions d = s.distillOptions();
        const zp::pipeline::CalibrationRequest cr = s.calibration();
        Q_EMIT message(QStringLiteral("Distillation: %1 on %2").arg(s.describe(), model->name()));
        std::unique_ptr<zp::model::Model> engine = model->openEngine();
        engine->set_keep_blocks(true);
        std::unique_ptr<zp::tok::Tokenizer> tok;
        auto tokenizer = [&]() -> const zp::tok::Tokenizer* {
            if (!tok)
                tok = openTokenizer(*model, s.tokenizer);
            return tok.get();
        };
        std::function<at::Tensor(int64_t)> demoCalibration;
        if (model->samplesOwnText())
            demoCalibration = [&](int64_t seqlen) {
                return zp::demo::demo_calibration(*engine, s.nsamples, seqlen, s.seed);
            };
        p.stage = QStringLiteral("drawing the calibration set");
        Q_EMIT progress(p);
        zp::pipeline::PipelineOptions po;  // only to draw the calibration windows
        po.method = "rtn-minmax";
        const zp::pipeline::PreparedCalibration pc = zp::pipeline::prepare_run(
            *engine, po, cr, tokenizer, demoCalibration, "demo (sampled from the model)");
        d.calibration = po.calibration;
        d.calibration_source = po.calibration_source;
        Q_EMIT message(QStringLiteral("Distillation data: %1 x %2 tokens from %3")
                           .arg(static_cast<qlonglong>(d.calibration.size(0)))
                           .arg(static_cast<qlonglong>(d.calibration.size(1)))
                           .arg(QString::fromStdString(pc.source)));
        d.progress = [&](double done, double total, const std::string& stage) {
            p.layersDone = static_cast<int>(done);
            p.layerCount = static_cast<int>(total);
            p.stage = QString::fromStdString(stage);
            p.elapsed = clock.elapsed() / 1000.0;
            p.eta = zp::eta_seconds(p.elapsed, done, total);
            Q_EMIT progress(p);
            return !cancel_.load();
        };
        // Called on this thread: the signal reaches the GUI queued.
        d.on_step = [&](int64_t step, int64_t steps, double loss) {
            Q_EMIT distillStep(step, steps, loss);
        };
        zp::pipeline::DistillResult r = zp::pipeline::distill(*engine, *qm, d);
        auto out = std::make_shared<DistillOutcome>();
        out->before = qm;
        out->settings = s;
        out->loss = r.loss;
        out->lossBefore = r.loss_before;
        out->lossAfter = r.loss_after;
        out->steps = r.steps;
        out->tokens = r.tokens;
        out->seconds = r.seconds;
        out->calibrationSource = QString::fromStdString(d.calibration_source);
        out->after = std::make_shared<const zp::quant::QuantizedModel>(std::move(r.model));
        p.layersDone = p.layerCount;
        p.elapsed = clock.elapsed() / 1000.0;
        p.eta = 0.0;
        p.stage = QStringLiteral("done");
        Q_EMIT progress(p);
        summary.seconds = clock.elapsed() / 1000.0;
        Q_EMIT distilled(out);
        Q_EMIT finished(summary);
    } catch (const zp::Cancelled&) {
        summary.seconds = clock.elapsed() / 1000.0;
        Q_EMIT cancelled(summary);
    } catch (const std::exception& e) {
        summary.seconds = clock.elapsed() / 1000.0;
        Q_EMIT failed(QString::fromUtf8(e.what()).section('\n', 0, 0), summary);
    }
}
