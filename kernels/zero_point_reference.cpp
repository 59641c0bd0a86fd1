// Plain, slow, obviously-correct references for the zero-point solver (the tests compare the fast
// path against these, never fast against fast):
//  - full sweep: every one of the n(N-1) level changes, sorted, with unbounded end pieces;
//  - brute force: the exact loss evaluated directly on a dense grid of offsets.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/zero_point.h"

namespace zp::kernels {

namespace {

// f(o) = sum h (x - o - clamp(round(x - o), 0, N-1))^2, evaluated directly.
double direct_f(const std::vector<double>& x, const std::vector<double>& h, int levels, double o)
{
    double acc = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        double v = x[i] - o;
        double q = std::nearbyint(v);
        q = std::min(std::max(q, 0.0), static_cast<double>(levels - 1));
        double e = v - q;
        acc += h[i] * e * e;
    }
    return acc;
}

}  // namespace

std::pair<double, double> full_sweep(const std::vector<double>& x, const std::vector<double>& h,
                                     int levels)
{
    const double top = levels - 1;
    std::vector<std::pair<double, double>> ev;
    ev.reserve(x.size() * (levels - 1));
    double b1 = 0.0, b2 = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        double rho = x[i] - top;  // o -> -inf: every element at the top level
        b1 += h[i] * rho;
        b2 += h[i] * rho * rho;
        for (int j = 0; j <= levels - 2; ++j)
            ev.emplace_back(x[i] - j - 0.5, h[i]);
    }
    std::sort(ev.begin(), ev.end());
    double best_f = std::numeric_limits<double>::infinity(), best_o = 0.0;
    double start = -std::numeric_limits<double>::infinity();
    for (size_t k = 0; k <= ev.size(); ++k) {
        double end = k < ev.size() ? ev[k].first : std::numeric_limits<double>::infinity();
        double o = std::min(std::max(b1, start), end);
        double d = o - b1;
        double f = d * d + (b2 - b1 * b1);
        if (f < best_f) {
            best_f = f;
            best_o = o;
        }
        if (k < ev.size()) {
            b1 += ev[k].second;
            b2 += 2.0 * ev[k].second * ev[k].first;
            start = end;
        }
    }
    // Re-evaluate directly: the incremental sums drift over many events.
    return {best_o, direct_f(x, h, levels, best_o)};
}

namespace {

std::pair<double, double> brute_force(const std::vector<double>& x, const std::vector<double>& h,
                                      int levels, int64_t points)
{
    auto mm = std::minmax_element(x.begin(), x.end());
    // Outside [min x - N + 1, max x] every element is clipped on one side and f only grows.
    double lo = *mm.first - (levels - 1) - 0.5, hi = *mm.second + 0.5;
    double best_f = std::numeric_limits<double>::infinity(), best_o = lo;
    for (int64_t k = 0; k < points; ++k) {
        double o = lo + (hi - lo) * static_cast<double>(k) / static_cast<double>(points - 1);
        double f = direct_f(x, h, levels, o);
        if (f < best_f) {
            best_f = f;
            best_o = o;
        }
    }
    return {best_o, best_f};
}

}  // namespace

ZeroPointSolve solve_zero_point_reference(const at::Tensor& w, const at::Tensor& h,
                                          const at::Tensor& scales, int bits, int64_t g, bool brute,
                                          int64_t brute_points)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = cols / g, C = scales.size(2);
    const int levels = 1 << bits;
    at::Tensor wd = w.to(at::kDouble).contiguous();
    const double* wp = wd.data_ptr<double>();
    const double* hp = h.data_ptr<double>();
    const double* sp = scales.data_ptr<double>();
    ZeroPointSolve out;
    out.zero = at::empty({rows, groups, C}, wd.options());
    out.loss = at::empty({rows, groups, C}, wd.options());
    double* zo = out.zero.data_ptr<double>();
    double* lo = out.loss.data_ptr<double>();
    at::parallel_for(0, rows * groups, 1, [&](int64_t k0, int64_t k1) {
        std::vector<double> x(g), hn(g);
        for (int64_t k = k0; k < k1; ++k) {
            int64_t r = k / groups, j = k % groups;
            double sum = 0.0;
            for (int64_t c = 0; c < g; ++c)
                sum += hp[j * g + c];
            for (int64_t c = 0; c < g; ++c)
                hn[c] = sum > 0.0 ? hp[j * g + c] / sum : 1.0 / static_cast<double>(g);
            for (int64_t c = 0; c < C; ++c) {
                double s = sp[k * C + c];
                for (int64_t i = 0; i < g; ++i)
                    x[i] = wp[r * cols + j * g + i] / s;
                auto res =
                    brute ? brute_force(x, hn, levels, brute_points) : full_sweep(x, hn, levels);
                zo[k * C + c] = -res.first;
                lo[k * C + c] = s * s * res.second;
            }
        }
    });
    return out;
}

}  // namespace zp::kernels
