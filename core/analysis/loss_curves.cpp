#include "core/analysis/loss_curves.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/tensor.h>

#include <algorithm>
#include <cmath>

#include "core/common/error.h"
#include "kernels/quantize_math.h"
#include "kernels/zero_point.h"
#include "kernels/zero_point_math.h"

namespace zp::analysis {

namespace {

std::vector<double> normalized(const std::vector<double>& w, const std::vector<double>& h)
{
    if (w.empty())
        throw InvalidArgument("analysis: empty group");
    if (h.size() != w.size())
        throw InvalidArgument("analysis: importance has " + std::to_string(h.size()) +
                              " values for " + std::to_string(w.size()) + " weights");
    double sum = 0.0;
    for (double v : h) {
        if (!(v >= 0.0))
            throw NumericError("analysis: importance must be >= 0");
        sum += v;
    }
    std::vector<double> out(h.size(), 1.0 / static_cast<double>(h.size()));
    if (sum > 0.0)
        for (size_t i = 0; i < h.size(); ++i)
            out[i] = h[i] / sum;
    return out;
}

void check_bits(int bits)
{
    if (bits < 2 || bits > 8)
        throw InvalidArgument("analysis: bits must be in 2..8, got " + std::to_string(bits));
}

// Exact optimal zero-points for several scales of one group via the kernel solver.
void solve(const std::vector<double>& w, const std::vector<double>& h, int bits,
           const std::vector<double>& scales, std::vector<double>& zero, std::vector<double>& loss)
{
    const int64_t n = static_cast<int64_t>(w.size());
    at::Tensor wt = at::tensor(w, at::kDouble).view({1, n});
    at::Tensor ht = at::tensor(h, at::kDouble);
    at::Tensor st = at::tensor(scales, at::kDouble).view({1, 1, -1});
    kernels::ZeroPointSolve r = kernels::solve_zero_point(wt, ht, st, bits, n);
    zero.assign(r.zero.data_ptr<double>(), r.zero.data_ptr<double>() + scales.size());
    loss.assign(r.loss.data_ptr<double>(), r.loss.data_ptr<double>() + scales.size());
}

}  // namespace

double group_loss_at(const std::vector<double>& w, const std::vector<double>& h, int bits,
                     double scale, double zero)
{
    check_bits(bits);
    std::vector<double> hn = normalized(w, h);
    return kernels::detail::direct_group_loss(w.data(), hn.data(), static_cast<int>(w.size()),
                                              scale, zero, 1 << bits);
}

ZCurve loss_curve_z(const std::vector<double>& w, const std::vector<double>& h, int bits,
                    double scale, double z_lo, double z_hi, int points)
{
    check_bits(bits);
    if (!(scale > 0.0) || !(z_hi > z_lo) || points < 2)
        throw InvalidArgument("loss_curve_z: need scale > 0, z_hi > z_lo and points >= 2");
    const int levels = 1 << bits;
    std::vector<double> hn = normalized(w, h);
    ZCurve c;
    c.scale = scale;
    c.z.resize(points);
    c.loss.resize(points);
    for (int k = 0; k < points; ++k) {
        double z = z_lo + (z_hi - z_lo) * k / (points - 1);
        c.z[k] = z;
        c.loss[k] = kernels::detail::direct_group_loss(
            w.data(), hn.data(), static_cast<int>(w.size()), scale, z, levels);
    }
    // round(w/s + z) changes at w/s + z = j + 1/2, j = 0..N-2
    for (double wi : w)
        for (int j = 0; j <= levels - 2; ++j) {
            double z = j + 0.5 - wi / scale;
            if (z >= z_lo && z <= z_hi)
                c.breakpoints.push_back(z);
        }
    std::sort(c.breakpoints.begin(), c.breakpoints.end());
    c.breakpoints.erase(std::unique(c.breakpoints.begin(), c.breakpoints.end()),
                        c.breakpoints.end());
    std::vector<double> zo, lo;
    solve(w, h, bits, {scale}, zo, lo);
    c.z_opt = zo[0];
    c.loss_opt = lo[0];
    for (int z = 0; z < levels; ++z) {
        c.int_z.push_back(z);
        c.int_loss.push_back(kernels::detail::direct_group_loss(
            w.data(), hn.data(), static_cast<int>(w.size()), scale, double(z), levels));
    }
    return c;
}

ScaleLandscape scale_landscape(const std::vector<double>& w, const std::vector<double>& h, int bits,
                               int grid, int coarse)
{
    check_bits(bits);
    if (grid < 1 || coarse < 1 || grid % coarse != 0)
        throw InvalidArgument("scale_landscape: coarse count must divide the grid");
    const int levels = 1 << bits;
    ScaleLandscape L;
    L.grid = grid;
    auto mm = std::minmax_element(w.begin(), w.end());
    double s_mm, z_mm;
    kernels::detail::minmax_params<double>(*mm.first, *mm.second, levels, 1.0, &s_mm, &z_mm);
    double range = *mm.second - *mm.first;
    L.s0 = range > 0.0 ? range / (levels - 1) : 1.0;
    L.minmax_zero = z_mm;
    L.minmax_loss = group_loss_at(w, h, bits, s_mm, z_mm);
    std::vector<double> scales(grid);
    for (int i = 1; i <= grid; ++i)
        scales[i - 1] = kernels::detail::candidate_scale(L.s0, i, grid);
    solve(w, h, bits, scales, L.zero, L.loss);
    L.scale = scales;
    // Replay the coarse-to-fine search on these exact values (same candidates, same tie rule).
    const int step = grid / coarse, half = step / 2;
    int best = 0;
    double best_loss = HUGE_VAL;
    for (int k = 1; k <= coarse; ++k) {
        int i = k * step;
        L.coarse.push_back(i);
        if (L.loss[i - 1] < best_loss) {
            best_loss = L.loss[i - 1];
            best = i;
        }
    }
    std::vector<double> fine_scales;
    for (int d = -half; d <= half; ++d) {
        if (d == 0 || best + d < 1)
            continue;
        L.fine.push_back(best + d);
        fine_scales.push_back(kernels::detail::candidate_scale(L.s0, best + d, grid));
    }
    std::vector<double> fz, fl;
    if (!fine_scales.empty())
        solve(w, h, bits, fine_scales, fz, fl);
    L.fine_loss = fl;
    int chosen = best;
    double chosen_zero = L.zero[best - 1];
    for (size_t t = 0; t < L.fine.size(); ++t)
        if (fl[t] < best_loss) {
            best_loss = fl[t];
            chosen = L.fine[t];
            chosen_zero = fz[t];
        }
    L.chosen = chosen;
    L.chosen_scale = kernels::detail::candidate_scale(L.s0, chosen, grid);
    L.chosen_zero = chosen_zero;
    L.chosen_loss = best_loss;
    return L;
}

LossGrid loss_grid(const std::vector<double>& w, const std::vector<double>& h, int bits,
                   double s_lo, double s_hi, int n_scales, double z_lo, double z_hi, int n_zeros)
{
    check_bits(bits);
    if (!(s_lo > 0.0) || !(s_hi > s_lo) || !(z_hi > z_lo) || n_scales < 2 || n_zeros < 2)
        throw InvalidArgument(
            "loss_grid: need 0 < s_lo < s_hi, z_lo < z_hi and at least 2 points per axis");
    const int levels = 1 << bits;
    std::vector<double> hn = normalized(w, h);
    LossGrid g;
    for (int a = 0; a < n_scales; ++a)
        g.scales.push_back(s_lo + (s_hi - s_lo) * a / (n_scales - 1));
    for (int b = 0; b < n_zeros; ++b)
        g.zeros.push_back(z_lo + (z_hi - z_lo) * b / (n_zeros - 1));
    g.loss.resize(static_cast<size_t>(n_scales) * n_zeros);
    for (int a = 0; a < n_scales; ++a)
        for (int b = 0; b < n_zeros; ++b)
            g.loss[static_cast<size_t>(a) * n_zeros + b] = kernels::detail::direct_group_loss(
                w.data(), hn.data(), static_cast<int>(w.size()), g.scales[a], g.zeros[b], levels);
    std::vector<double> l;
    solve(w, h, bits, g.scales, g.z_star, l);
    return g;
}

GroupInspection inspect_group(const std::vector<double>& w, const std::vector<double>& h, int bits,
                              const std::function<void()>& check)
{
    auto step = [&] {
        if (check)
            check();
    };
    if (w.empty())
        throw InvalidArgument("inspect_group: empty group");
    GroupInspection d;
    const int levels = 1 << bits;
    d.landscape = scale_landscape(w, h, bits);
    step();
    auto mm = std::minmax_element(w.begin(), w.end());
    kernels::detail::minmax_params<double>(*mm.first, *mm.second, levels, 1.0, &d.minmax_scale,
                                           &d.minmax_zero);
    d.minmax_loss = d.landscape.minmax_loss;
    const double s = d.landscape.chosen_scale;
    d.zcurve = loss_curve_z(w, h, bits, s, std::min(-1.0, d.minmax_zero - 0.5),
                            std::max(double(levels), d.minmax_zero + 0.5), 400);
    d.minmax_zero_loss_at_chosen = group_loss_at(w, h, bits, s, d.minmax_zero);
    step();
    const double s0 = d.landscape.s0;
    const double sLo = s0 * std::min(0.25, 0.7 * s / s0), sHi = s0 * 1.1;
    d.grid = loss_grid(w, h, bits, sLo, sHi, 110, -1.0, double(levels), 110);
    step();
    return d;
}

}  // namespace zp::analysis
