#include "core/analysis/group_study.h"

#include <ATen/ops/tensor.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/common/error.h"
#include "kernels/quantize_math.h"
#include "kernels/zero_point.h"

namespace zp::analysis {

namespace {

StudyPoint from_search(const kernels::SearchResult& r)
{
    StudyPoint p;
    p.scale = r.scale.item<double>();
    p.zero = r.zero.item<double>();
    p.loss = r.loss.item<double>();
    return p;
}

}  // namespace

GroupStudy study_group(const StudyRequest& q, const ProgressFn& progress)
{
    if (q.bits < 2 || q.bits > 8)
        throw InvalidArgument("study_group: bits must be in 2..8, got " + std::to_string(q.bits));
    if (q.w.size() < 2 || q.h.size() != q.w.size())
        throw InvalidArgument("study_group: need at least 2 weights and one importance per weight");
    if (q.mode == StudyMode::Manual && !(q.manual_scale > 0.0))
        throw InvalidArgument("study_group: the manual scale must be > 0");
    if (q.landscape_points < 2 || q.curve_points < 2)
        throw InvalidArgument("study_group: need at least 2 landscape and curve points");
    const int levels = 1 << q.bits;
    const int64_t n = static_cast<int64_t>(q.w.size());
    GroupStudy g;
    g.bits = q.bits;

    auto mm = std::minmax_element(q.w.begin(), q.w.end());
    kernels::detail::minmax_params<double>(*mm.first, *mm.second, levels, 1.0, &g.minmax.scale,
                                           &g.minmax.zero);
    g.minmax.loss = group_loss_at(q.w, q.h, q.bits, g.minmax.scale, g.minmax.zero);
    double range = *mm.second - *mm.first;
    g.s0 = range > 0.0 ? range / (levels - 1) : 1.0;
    report_progress(progress, 1, 4, "min-max");

    at::Tensor wt = at::tensor(q.w, at::kDouble).view({1, n});
    at::Tensor ht = at::tensor(q.h, at::kDouble);
    kernels::SearchConfig sc;
    sc.bits = q.bits;
    sc.group_size = n;
    sc.grid = q.grid;
    sc.coarse = q.coarse;
    g.neuqi = from_search(kernels::neuqi_search(wt, ht, sc));
    g.optimum_loss = g.neuqi.loss;
    g.neuqi_int.loss = -1.0;
    if (q.mode == StudyMode::NeUQIInt) {
        report_progress(progress, 2, 4, "neuqi-int");
        g.neuqi_int = from_search(kernels::neuqi_int_search(wt, ht, q.bits, n, q.grid));
        g.optimum_loss = std::min(g.optimum_loss, g.neuqi_int.loss);
    }
    switch (q.mode) {
        case StudyMode::MinMax:
            g.shown = g.minmax;
            break;
        case StudyMode::NeUQI:
            g.shown = g.neuqi;
            break;
        case StudyMode::NeUQIInt:
            g.shown = g.neuqi_int;
            break;
        case StudyMode::Manual:
            g.shown.scale = q.manual_scale_relative ? q.manual_scale * g.s0 : q.manual_scale;
            g.shown.zero = q.manual_zero;
            g.shown.loss = group_loss_at(q.w, q.h, q.bits, g.shown.scale, q.manual_zero);
            break;
    }
    g.ratio_to_optimum = g.optimum_loss > 0.0 ? g.shown.loss / g.optimum_loss : 1.0;
    g.ratio_minmax = g.optimum_loss > 0.0 ? g.minmax.loss / g.optimum_loss : 1.0;
    for (int j = 0; j < levels; ++j)
        g.levels.push_back(kernels::detail::dequant_value(j, g.shown.scale, g.shown.zero));
    g.quantized.reserve(q.w.size());
    for (double v : q.w) {
        int code = kernels::detail::quant_code(v, g.shown.scale, g.shown.zero, levels);
        g.clipped_low += code == 0 && v < g.levels.front();
        g.clipped_high += code == levels - 1 && v > g.levels.back();
        g.quantized.push_back(kernels::detail::dequant_value(code, g.shown.scale, g.shown.zero));
    }
    report_progress(progress, 3, 4, "L(z)");

    double z_lo = std::min({-1.0, g.shown.zero - 0.5, g.minmax.zero - 0.5});
    double z_hi = std::max({double(levels), g.shown.zero + 0.5, g.minmax.zero + 0.5});
    g.zcurve = loss_curve_z(q.w, q.h, q.bits, g.shown.scale, z_lo, z_hi, q.curve_points);
    if (g.zcurve.breakpoints.size() > 2000) {  // too many to draw: keep an even subsample
        std::vector<double> keep;
        const size_t m = g.zcurve.breakpoints.size();
        for (size_t k = 0; k < 2000; ++k)
            keep.push_back(g.zcurve.breakpoints[k * m / 2000]);
        g.zcurve.breakpoints.swap(keep);
    }
    report_progress(progress, 4, 4, "L(s)");

    std::vector<double> scales;
    for (int i = 1; i <= q.landscape_points; ++i)
        scales.push_back(g.s0 * i / q.landscape_points);
    at::Tensor st = at::tensor(scales, at::kDouble).view({1, 1, -1});
    kernels::ZeroPointSolve r = kernels::solve_zero_point(wt, ht, st, q.bits, n);
    g.landscape_scale = scales;
    g.landscape_zero.assign(r.zero.data_ptr<double>(), r.zero.data_ptr<double>() + scales.size());
    g.landscape_loss.assign(r.loss.data_ptr<double>(), r.loss.data_ptr<double>() + scales.size());
    return g;
}

}  // namespace zp::analysis
