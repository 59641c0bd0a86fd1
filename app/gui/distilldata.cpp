#include "app/gui/distilldata.h"

#include <algorithm>
#include <cmath>

#include "core/analysis/distill_movement.h"
#include "core/quant/result.h"

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
    for (const zp::analysis::LayerMovement& l : zp::analysis::distill_movement(before, after)) {
        const int t = static_cast<int>(m.types.indexOf(QString::fromStdString(l.name)));
        if (t < 0 || l.block < 0 || l.block >= m.blocks)
            continue;
        const size_t cell = static_cast<size_t>(l.block) * m.types.size() + t;
        m.scale[cell] = l.scale;
        m.zero[cell] = l.zero;
    }
    for (double v : m.scale)
        if (std::isfinite(v))
            m.scaleMax = std::max(m.scaleMax, v);
    for (double v : m.zero)
        if (std::isfinite(v))
            m.zeroMax = std::max(m.zeroMax, v);
    return m;
}
