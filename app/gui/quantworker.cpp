#include "app/gui/quantworker.h"

#include <QElapsedTimer>

#include <c10/core/Device.h>

#include "core/common/error.h"
#include "core/common/progress.h"

void QuantWorker::run(ModelPtr model, JobSettings s)
{
    QElapsedTimer clock;
    clock.start();
    JobSummary summary;
    const auto& layers = model->layers();
    JobProgress p;
    p.layerCount = static_cast<int>(layers.size());
    p.blockCount = model->blockCount();
    // The engine's progress convention: a callback that returns false cancels (zp::Cancelled).
    zp::ProgressFn keepGoing = [this](double, double, const std::string&) {
        return !cancel_.load();
    };
    QString current;
    try {
        const at::Device device(s.device.toStdString());
        Q_EMIT message(QStringLiteral("Job: %1 on %2 (%3 layers). Importance: %4")
                           .arg(s.describe(), model->name())
                           .arg(layers.size())
                           .arg(model->importanceNote()));
        for (size_t i = 0; i < layers.size(); ++i) {
            const LayerInfo& l = layers[i];
            current = l.name;
            p.layersDone = static_cast<int>(i);
            p.block = l.block;
            p.layerName = l.name;
            p.elapsed = clock.elapsed() / 1000.0;
            p.eta = i > 0 ? p.elapsed / i * (layers.size() - i) : -1.0;
            Q_EMIT progress(p);
            zp::report_progress(keepGoing, static_cast<double>(i),
                                static_cast<double>(layers.size()), l.name.toStdString());
            at::Tensor w = model->weight(static_cast<int>(i)).to(device);
            at::Tensor h = model->importance(static_cast<int>(i), s.seed);
            if (h.defined())
                h = h.to(device);
            zp::quant::LayerQuant q = zp::quant::quantize_layer(w, at::Tensor(), s.quantConfig(),
                                                                l.name.toStdString(), h);
            LayerResult r;
            r.layer = static_cast<int>(i);
            r.settings = s;
            r.groupSize = q.group_size;
            r.diagLoss = q.diagnostics.diag_loss;
            r.diagLossMinMax = q.diagnostics.diag_loss_minmax;
            r.seconds = q.seconds;
            r.scale = q.scale.cpu();
            r.zero = q.zero.cpu();
            r.groupLoss = q.group_loss.cpu();
            r.groupLossMinMax = q.group_loss_minmax.cpu();
            r.importance = q.importance.cpu();
            summary.layersDone += 1;
            summary.diagLoss += r.diagLoss;
            summary.diagLossMinMax += r.diagLossMinMax;
            Q_EMIT layerFinished(r);
        }
        p.layersDone = p.layerCount;
        p.elapsed = clock.elapsed() / 1000.0;
        p.eta = 0.0;
        p.layerName.clear();
        Q_EMIT progress(p);
        summary.seconds = clock.elapsed() / 1000.0;
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
