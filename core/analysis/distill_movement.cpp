#include "core/analysis/distill_movement.h"

#include <ATen/ATen.h>

#include <cmath>

namespace zp::analysis {

double relative_movement(const at::Tensor& x, const at::Tensor& x0)
{
    if (!x.defined() || !x0.defined() || x.sizes() != x0.sizes() || x0.numel() == 0)
        return NAN;
    const at::Tensor a = x.to(at::kCPU, at::kDouble), b = x0.to(at::kCPU, at::kDouble);
    const double base = b.abs().mean().item<double>();
    if (!(base > 0.0))
        return NAN;
    return (a - b).abs().mean().item<double>() / base;
}

std::vector<LayerMovement> distill_movement(const quant::QuantizedModel& before,
                                            const quant::QuantizedModel& after)
{
    std::vector<LayerMovement> out;
    for (const quant::LayerResult& a : after.layers) {
        if (a.skipped)
            continue;
        const quant::LayerResult* b = before.find(a.block, a.name);
        if (!b || b->skipped)
            continue;
        out.push_back({a.block, a.name, relative_movement(a.scale, b->scale),
                       relative_movement(a.zero, b->zero)});
    }
    return out;
}

}  // namespace zp::analysis
