#include "core/quant/protect.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/common/error.h"

namespace zp::quant {

namespace {

// Keeps every w/s + z this far (in steps) inside the unclipped range, so that computing the codes
// in float32 cannot push an extreme weight past half a step.
constexpr double kEdge = 1e-5;

struct Best {
    double loss = std::numeric_limits<double>::infinity();
    double s = 1.0, z = 0.0;
};

double rounding_loss(const std::vector<double>& u, const std::vector<double>& h, double z)
{
    double f = 0.0;
    for (size_t j = 0; j < u.size(); ++j) {
        const double x = u[j] + z;
        const double d = x - std::nearbyint(x);
        f += h[j] * d * d;
    }
    return f;
}

// min over z in [lo, hi] of sum_j h_j d(u_j + z)^2 (sum h = 1): a quadratic z^2 + 2Bz + C between
// the sorted points where some u_j + z crosses a half-integer; each crossing moves u_j's nearest
// integer up by one.
double best_real_offset(const std::vector<double>& u, const std::vector<double>& h, double lo,
                        double hi, std::vector<std::pair<double, int>>& events,
                        std::vector<double>& e, double* z_out)
{
    const size_t n = u.size();
    events.clear();
    e.resize(n);
    double A = 0.0, B = 0.0, C = 0.0;
    for (size_t j = 0; j < n; ++j) {
        const double nj = std::floor(u[j] + lo + 0.5);
        e[j] = u[j] - nj;
        A += h[j];
        B += h[j] * e[j];
        C += h[j] * e[j] * e[j];
        for (double b = nj + 0.5 - u[j]; b < hi; b += 1.0)
            events.emplace_back(b, static_cast<int>(j));
    }
    std::sort(events.begin(), events.end());
    double best = std::numeric_limits<double>::infinity(), best_z = lo;
    auto segment = [&](double a, double b) {
        double z = A > 0.0 ? std::clamp(-B / A, a, b) : a;
        double f = A * z * z + 2.0 * B * z + C;
        if (f < best) {
            best = f;
            best_z = z;
        }
    };
    double a = lo;
    for (const auto& [b, j] : events) {
        segment(a, std::max(a, b));
        a = std::max(a, b);
        B -= h[j];
        C += h[j] * (1.0 - 2.0 * e[j]);
        e[j] -= 1.0;
    }
    segment(a, hi);
    *z_out = best_z;
    return best;
}

void protect_group(const double* w, const double* hraw, int n, const ProtectOptions& o,
                   double* s_out, double* z_out)
{
    const int L = 1 << o.bits;
    double wmin = w[0], wmax = w[0], hsum = 0.0;
    for (int j = 0; j < n; ++j) {
        wmin = std::min(wmin, w[j]);
        wmax = std::max(wmax, w[j]);
        hsum += hraw[j];
    }
    const double range = wmax - wmin;
    if (!(range > 0.0))
        return;  // a constant group: Min-Max already reconstructs it exactly
    std::vector<double> h(n), u(n), e;
    for (int j = 0; j < n; ++j)
        h[j] = hsum > 0.0 ? hraw[j] / hsum : 1.0 / n;
    std::vector<std::pair<double, int>> events;
    const double s0 = range / (L - 1);
    // s * 2^k >= range <=> i >= T (2^k - 1) / 2^k.
    const int i_min =
        std::max(1, static_cast<int>((static_cast<int64_t>(o.grid) * (L - 1) + L - 1) / L));
    Best best;
    int best_i = o.grid;
    auto try_scale = [&](int i) {
        const double s = s0 * static_cast<double>(i) / static_cast<double>(o.grid);
        for (int j = 0; j < n; ++j)
            u[j] = w[j] / s;
        const double lo = -0.5 - wmin / s + kEdge, hi = L - 0.5 - wmax / s - kEdge;
        if (!(lo <= hi))
            return;
        double z = 0.0, f = std::numeric_limits<double>::infinity();
        if (o.integer_zero) {
            for (double zi = std::ceil(lo); zi <= hi; zi += 1.0) {
                const double fi = rounding_loss(u, h, zi);
                if (fi < f) {
                    f = fi;
                    z = zi;
                }
            }
        } else {
            f = best_real_offset(u, h, lo, hi, events, e, &z);
        }
        const double loss = f * s * s;
        if (loss < best.loss) {
            best = {loss, s, z};
            best_i = i;
        }
    };
    const int step = o.full_grid ? 1 : std::max(1, o.grid / std::max(1, o.coarse));
    if (step == 1) {
        for (int i = i_min; i <= o.grid; ++i)
            try_scale(i);
    } else {
        // Coarse-to-fine as NeUQI: the coarse scales of its grid inside the band (s0 included),
        // the band's edge, then every scale within half a step of the best.
        for (int i = o.grid; i >= i_min; i -= step)
            try_scale(i);
        if ((o.grid - i_min) % step != 0)
            try_scale(i_min);
        const int centre = best_i;
        for (int i = std::max(i_min, centre - step / 2); i <= std::min(o.grid, centre + step / 2);
             ++i)
            if (i != centre && (o.grid - i) % step != 0)
                try_scale(i);
    }
    if (best.loss < std::numeric_limits<double>::infinity()) {
        *s_out = best.s;
        *z_out = best.z;
    }
}

}  // namespace

at::Tensor protect_outlier_groups(const at::Tensor& W, const at::Tensor& h, const ProtectOptions& o,
                                  at::Tensor* scale, at::Tensor* zero)
{
    const int64_t rows = W.size(0), cols = W.size(1), g = o.group_size;
    if (g <= 0)
        throw InvalidArgument("protect_outlier_groups: unresolved group size");
    const int64_t groups = (cols + g - 1) / g;
    at::Tensor mask = at::zeros({rows, groups}, at::kBool);
    if (!o.all && !(o.sigmas > 0.0))
        return mask;
    const at::Tensor w = W.to(at::kCPU, at::kDouble).contiguous();
    if (o.all) {
        mask.fill_(true);
    } else {
        const double mean = w.mean().item<double>();
        const double sd = w.std(/*unbiased=*/false).item<double>();
        if (!(sd > 0.0))
            return mask;
        const at::Tensor far = ((w - mean).abs() >= o.sigmas * sd);
        // Per (row, group): does any element lie that far out? (A short last group pads with
        // false.)
        at::Tensor padded = at::zeros({rows, groups * g}, at::kBool);
        padded.narrow(1, 0, cols).copy_(far);
        mask = padded.view({rows, groups, g}).any(2);
    }
    const at::Tensor idx = at::nonzero(mask.view({-1})).view({-1}).contiguous();
    const int64_t count = idx.numel();
    if (count == 0)
        return mask;
    at::Tensor sc = scale->to(at::kCPU, at::kDouble).contiguous();
    at::Tensor zc = zero->to(at::kCPU, at::kDouble).contiguous();
    const at::Tensor hc = h.to(at::kCPU, at::kDouble).contiguous();
    const double* wp = w.data_ptr<double>();
    const double* hp = hc.data_ptr<double>();
    const int64_t* ip = idx.data_ptr<int64_t>();
    double* sp = sc.data_ptr<double>();
    double* zp = zc.data_ptr<double>();
    at::parallel_for(0, count, 1, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
            const int64_t r = ip[k] / groups, j = ip[k] % groups;
            const int n = static_cast<int>(std::min(g, cols - j * g));
            protect_group(wp + r * cols + j * g, hp + j * g, n, o, sp + ip[k], zp + ip[k]);
        }
    });
    *scale = sc.to(scale->device(), scale->scalar_type());
    *zero = zc.to(zero->device(), zero->scalar_type());
    return mask;
}

}  // namespace zp::quant
