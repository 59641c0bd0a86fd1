#include "app/gui/inspectordata.h"

#include <ATen/ops/ones.h>

#include <algorithm>
#include <cmath>

#include "core/common/error.h"

namespace {

void check(const std::function<bool()>& stillWanted)
{
    if (stillWanted && !stillWanted())
        throw zp::Cancelled();
}

std::vector<double> rowMeans(const at::Tensor& t)
{
    at::Tensor m = t.to(at::kDouble).mean(1).contiguous();
    return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
}

}  // namespace

InspectorData computeInspector(const InspectorRequest& q, const std::function<bool()>& stillWanted)
{
    InspectorData d;
    const LayerInfo& info = q.model->layers().at(static_cast<size_t>(q.layer));
    if (!q.model->hasWeights())
        throw zp::IoError(QStringLiteral("%1: the model of this session is not available, so its "
                                         "weights cannot be inspected (the table shows the "
                                         "session's figures)")
                              .arg(info.name)
                              .toStdString());
    const bool job = q.result.valid() && q.result.layer == q.layer && q.result.groupLoss.defined();
    d.settings = job ? q.result.settings : q.settings;
    d.fromJob = job;
    d.layer = q.layer;
    d.layerName = info.name;
    d.bits = d.settings.bits;
    d.rows = static_cast<int>(info.rows);
    d.groupSize = d.settings.groupSize < 0 ? info.cols : d.settings.groupSize;
    if (d.groupSize <= 0)
        throw zp::InvalidArgument(QStringLiteral("%1: group size %2 is not positive")
                                      .arg(info.name)
                                      .arg(d.groupSize)
                                      .toStdString());
    // ceil(cols / g) groups; the last one is shorter when g does not divide the row (GPTQ's rule).
    d.groups = static_cast<int>((info.cols + d.groupSize - 1) / d.groupSize);
    d.row = std::clamp(q.row, 0, d.rows - 1);
    d.group = std::clamp(q.group, 0, d.groups - 1);

    at::Tensor W = q.model->weight(q.layer).to(at::kDouble);
    at::Tensor h = job ? q.result.importance : q.model->importance(q.layer, d.settings.seed);
    if (!h.defined())
        h = at::ones({info.cols}, at::kDouble);
    h = h.to(at::kDouble).contiguous();
    d.importance.assign(h.data_ptr<double>(), h.data_ptr<double>() + h.numel());
    const int64_t c0 = int64_t(d.group) * d.groupSize;
    const int64_t c1 = std::min<int64_t>(c0 + d.groupSize, info.cols);
    at::Tensor wg = W[d.row].slice(0, c0, c1).contiguous();
    d.w.assign(wg.data_ptr<double>(), wg.data_ptr<double>() + wg.numel());
    d.h.assign(d.importance.begin() + c0, d.importance.begin() + c1);
    check(stillWanted);

    zp::analysis::GroupInspection g =
        zp::analysis::inspect_group(d.w, d.h, d.bits, [&] { check(stillWanted); });
    d.landscape = std::move(g.landscape);
    d.minmaxScale = g.minmax_scale;
    d.minmaxZero = g.minmax_zero;
    d.minmaxLoss = g.minmax_loss;
    d.zcurve = std::move(g.zcurve);
    d.minmaxZeroLossAtChosen = g.minmax_zero_loss_at_chosen;
    d.grid = std::move(g.grid);

    if (job) {
        d.jobScale = q.result.scale[d.row][d.group].item<double>();
        d.jobZero = q.result.zero[d.row][d.group].item<double>();
        d.jobLoss = q.result.groupLoss[d.row][d.group].item<double>();
        d.rowMinMax = rowMeans(q.result.groupLossMinMax);
        d.rowMethod = rowMeans(q.result.groupLoss);
        d.rowMethodName = d.settings.label();
    } else {
        // No job yet: compare rows under NeUQI with the panel's settings (same engine call as a
        // job).
        zp::quant::QuantConfig c = d.settings.quantConfig();
        c.method = zp::quant::Method::NeUQI;
        c.group_size = d.groupSize == info.cols ? -1 : d.groupSize;
        zp::quant::LayerQuant r = zp::quant::quantize_layer(q.model->weight(q.layer), at::Tensor(),
                                                            c, info.name.toStdString(), h);
        d.rowMinMax = rowMeans(r.group_loss_minmax);
        d.rowMethod = rowMeans(r.group_loss);
        d.rowMethodName = methodLabel(zp::quant::Method::NeUQI);
    }
    return d;
}
