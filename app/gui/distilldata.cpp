#include "app/gui/distilldata.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/quant/result.h"

double relativeMovement(const at::Tensor& x, const at::Tensor& x0)
{
    if (!x.defined() || !x0.defined() || x.sizes() != x0.sizes() || x0.numel() == 0)
        return NAN;
    const at::Tensor a = x.to(at::kDouble), b = x0.to(at::kDouble);
    const double base = b.abs().mean().item<double>();
    if (!(base > 0.0))
        return NAN;
    return (a - b).abs().mean().item<double>() / base;
}

DistillMovement distillMovement(const WorkbenchModel& model,
                                const zp::quant::QuantizedModel& before,
                                const zp::quant::QuantizedModel& after)
{
    DistillMovement m;
    m.types = model.layerTypes();
    m.blocks = model.blockCount();
    const size_t n = static_cast<size_t>(m.blocks) * static_cast<size_t>(m.types.size());
    m.scale.assign(n, NAN);
    m.zero.assign(n, NAN);
    for (const zp::quant::LayerResult& a : after.layers) {
        const int t = static_cast<int>(m.types.indexOf(QString::fromStdString(a.name)));
        if (a.skipped || t < 0 || a.block < 0 || a.block >= m.blocks)
            continue;
        const zp::quant::LayerResult* b = before.find(a.block, a.name);
        if (!b || b->skipped)
            continue;
        const size_t cell = static_cast<size_t>(a.block) * m.types.size() + t;
        m.scale[cell] = relativeMovement(a.scale, b->scale);
        m.zero[cell] = relativeMovement(a.zero, b->zero);
    }
    for (double v : m.scale)
        if (std::isfinite(v))
            m.scaleMax = std::max(m.scaleMax, v);
    for (double v : m.zero)
        if (std::isfinite(v))
            m.zeroMax = std::max(m.zeroMax, v);
    return m;
}
