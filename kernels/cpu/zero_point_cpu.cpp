// CPU NeUQI search: one thread per group (kernels::parallel_for, kernels/parallel.h), the group
// sorted once and reused by every scale candidate; the per-scale work is the portable code in
// kernels/zero_point_math.h.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include "kernels/parallel.h"

#include <algorithm>
#include <climits>
#include <numeric>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/quantize_math.h"
#include "kernels/zero_point_math.h"

namespace zp::kernels {
// Exact sweep over every level change (zero_point_reference.cpp): (offset, f) with sum h = 1.
std::pair<double, double> full_sweep(const std::vector<double>& x, const std::vector<double>& h,
                                     int levels);
}  // namespace zp::kernels

namespace zp::kernels::cpu {

using namespace zp::kernels::detail;

namespace {
// Groups this small are swept exactly: the surrogate is a poor guide to where a 2- or 3-element
// group's optimum lies, and the full sweep costs less than the window there.
constexpr int kExactSweepMaxGroup = kSmallGroupMax;

ScaleSolve solve_small(const SortedGroup& g, double s, int levels)
{
    std::vector<double> x(g.w, g.w + g.n), h(g.h, g.h + g.n);
    for (double& v : x)
        v /= s;
    auto r = zp::kernels::full_sweep(x, h, levels);
    return ScaleSolve{r.first, s * s * r.second, false};
}
}  // namespace

namespace {

// Per-thread buffers: one sorted group plus the stage-2 workspace.
struct GroupBuffers {
    std::vector<double> w, h, p0, p1, p2;
    std::vector<int> idx;
    std::vector<BinAcc> bin_acc;
    std::vector<double> bin_b1, bin_b2, bin_lb;
    std::vector<int> bin_order, bin_offset;
    std::vector<DropEvent> events, raw_events;
    std::vector<int> raw_bins;
    std::vector<DropEvent> buckets;
    std::vector<double> int_scratch;
    Stage2Workspace ws;
    SortedGroup sg{};
    double wmin = 0.0, wmax = 0.0;

    explicit GroupBuffers(int n)
        : w(n), h(n), p0(n + 1), p1(n + 1), p2(n + 1), idx(n), int_scratch(n + 1)
    {
        // About eight drops per bin at level 0: the bins stay in L1 and the gathered segments
        // short.
        int bins = 8;
        while (bins < n / 4 && bins < 1024)
            bins <<= 1;
        const int levels = Stage2Workspace::kLevels;
        bin_acc.resize(levels * bins);
        bin_b1.resize(levels * bins);
        bin_b2.resize(levels * bins);
        bin_lb.resize(levels * bins);
        bin_order.resize(levels * bins);
        bin_offset.resize(bins + 1);
        events.resize(2 * static_cast<size_t>(n) + 8);
        raw_events.resize(events.size());
        raw_bins.resize(events.size());
        ws.bins = bins;
        ws.event_cap = static_cast<int>(events.size());
        ws.bin_acc = bin_acc.data();
        ws.bin_b1 = bin_b1.data();
        ws.bin_b2 = bin_b2.data();
        ws.bin_lb = bin_lb.data();
        ws.bin_order = bin_order.data();
        ws.bin_offset = bin_offset.data();
        ws.events = events.data();
        ws.raw_events = raw_events.data();
        ws.raw_bins = raw_bins.data();
        ws.raw_cap = static_cast<int>(raw_events.size());
        // Small groups: buckets that stay in L1 (bins * cap * 16 bytes <= 32 KiB).
        if (bins <= 64) {
            ws.bucket_cap = 32;
            buckets.resize(static_cast<size_t>(bins) * ws.bucket_cap);
            ws.buckets = buckets.data();
        }
    }

    template <typename T>
    void load(const T* wrow, const double* hn, int n)
    {
        std::iota(idx.begin(), idx.end(), 0);
        std::sort(idx.begin(), idx.end(),
                  [&](int a, int b) { return wrow[a] < wrow[b] || (wrow[a] == wrow[b] && a < b); });
        p0[0] = p1[0] = p2[0] = 0.0;
        for (int k = 0; k < n; ++k) {
            double wv = static_cast<double>(wrow[idx[k]]);
            double hv = hn[idx[k]];
            w[k] = wv;
            h[k] = hv;
            p0[k + 1] = p0[k] + hv;
            p1[k + 1] = p1[k] + hv * wv;
            p2[k + 1] = p2[k] + hv * wv * wv;
        }
        sg = SortedGroup{w.data(), h.data(), p0.data(), p1.data(), p2.data(), n};
        wmin = w[0];
        wmax = w[n - 1];
    }

    double minmax_scale(int levels) const
    {
        double range = wmax - wmin;
        return range > 0.0 ? range / (levels - 1) : 1.0;
    }
};

struct Best {
    double loss = inf_value();
    int seq = INT_MAX;
    int index = 0;
    double o = 0.0;

    void offer(double l, int s, int i, double off)
    {
        if (l < loss || (l == loss && s < seq)) {
            loss = l;
            seq = s;
            index = i;
            o = off;
        }
    }
};

// Evaluates candidate grid indices (with their tie-break sequence numbers) into best: stage 1 and
// the clipping bound for all first, then the exact stage 2 in order of estimated loss, skipping
// every scale whose lower bound (clipping alone) or whose window bins cannot beat the best so far.
void evaluate_candidates(GroupBuffers& b, double s0, int levels, int grid,
                         const std::vector<int>& list, const std::vector<int>& seq, Best& best,
                         std::vector<double>& o_s, std::vector<double>& ub, std::vector<double>& lb,
                         std::vector<int>& order)
{
    const size_t m = list.size();
    o_s.resize(m);
    ub.resize(m);
    lb.resize(m);
    order.resize(m);
    // The lists run in increasing s, so each search starts from its neighbour's answer. They are
    // walked from the largest s down. The clipping bound never decreases as s shrinks (a shorter
    // grid clips at least as much), so once it exceeds a known loss (the best so far, or the
    // smallest surrogate upper bound seen: both are at least the final best) that candidate and
    // every smaller one are dropped, before their stage 1 is computed.
    int hints1[2] = {-1, -1}, hints0[2] = {-1, -1};
    const bool small = b.sg.n <= kExactSweepMaxGroup;
    double known = best.loss;
    size_t kept = 0;
    for (size_t u = m; u-- > 0;) {
        double s = candidate_scale(s0, list[u], grid);
        lb[u] = small ? 0.0 : clipping_lower_bound(b.sg, s, levels, hints0);
        if (known < inf_value() && lb[u] > known * (1.0 + 1e-12))
            break;
        o_s[u] = stage1_offset(b.sg, s, levels, &ub[u], hints1);
        known = std::min(known, ub[u]);
        order[kept++] = static_cast<int>(u);
    }
    order.resize(kept);
    // Most promising first, so that the threshold is tight early: the exact loss lies in [lb, ub],
    // and the surrogate charges every unclipped element 1/4 where rounding costs about 1/12 on
    // average, so lb + (ub - lb) / 3 estimates it. (Order only affects speed: ties go by seq.)
    auto estimate = [&](int t) { return lb[t] + (ub[t] - lb[t]) / 3.0; };
    std::sort(order.begin(), order.end(), [&](int a, int c) {
        const double ea = estimate(a), ec = estimate(c);
        return ea < ec || (ea == ec && a < c);
    });
    for (int t : order) {
        double s = candidate_scale(s0, list[t], grid);
        if (b.sg.n <= kExactSweepMaxGroup) {
            ScaleSolve r = solve_small(b.sg, s, levels);
            best.offer(r.loss, seq[t], list[t], r.o);
            continue;
        }
        if (best.loss < inf_value() && lb[t] > best.loss * (1.0 + 1e-12))
            continue;
        ScaleSolve r = solve_scale_window(b.sg, s, levels, o_s[t], best.loss, b.ws);
        if (!r.pruned)
            best.offer(r.loss, seq[t], list[t], r.o);
    }
}

int64_t grain_for(int64_t g)
{
    return std::max<int64_t>(1, 4096 / std::max<int64_t>(g, 1));
}

// Stores the chosen (s, z), recomputes its loss and Min-Max's with the same evaluator, and keeps
// Min-Max where it is strictly better (rounding or a stage-1 window that missed).
template <typename T>
void finalize_group(const T* wrow, const double* hn, int n, int levels, double s_chosen,
                    double z_chosen, int index, T* scale_out, T* zero_out, double* loss_out,
                    double* mm_out, int* index_out)
{
    T wmin = *std::min_element(wrow, wrow + n), wmax = *std::max_element(wrow, wrow + n);
    T s_mm, z_mm;
    detail::minmax_params<T>(wmin, wmax, levels, T(1), &s_mm, &z_mm);
    double mm = direct_group_loss(wrow, hn, n, s_mm, z_mm, levels);
    T s = static_cast<T>(s_chosen), z = static_cast<T>(z_chosen);
    double loss = direct_group_loss(wrow, hn, n, s, z, levels);
    if (mm < loss || !(loss == loss)) {
        s = s_mm;
        z = z_mm;
        loss = mm;
        index = 0;
    }
    *scale_out = s;
    *zero_out = z;
    *loss_out = loss;
    *mm_out = mm;
    *index_out = index;
}

SearchResult make_result(const at::Tensor& w, int64_t groups)
{
    SearchResult r;
    r.scale = at::empty({w.size(0), groups}, w.options());
    r.zero = at::empty({w.size(0), groups}, w.options());
    r.loss = at::empty({w.size(0), groups}, w.options().dtype(at::kDouble));
    r.minmax_loss = at::empty({w.size(0), groups}, w.options().dtype(at::kDouble));
    r.index = at::empty({w.size(0), groups}, w.options().dtype(at::kInt));
    return r;
}

}  // namespace

std::vector<double> normalized_importance(const at::Tensor& h, int64_t g)
{
    const double* hp = h.data_ptr<double>();
    const int64_t cols = h.size(0);
    std::vector<double> hn(hp, hp + cols);
    for (int64_t j = 0; j * g < cols; ++j) {
        const int64_t n = std::min(g, cols - j * g);  // the last group may be short
        double sum = 0.0;
        for (int64_t c = 0; c < n; ++c)
            sum += hp[j * g + c];
        for (int64_t c = 0; c < n; ++c)
            hn[j * g + c] = sum > 0.0 ? hp[j * g + c] / sum : 1.0 / static_cast<double>(n);
    }
    return hn;
}

ZeroPointSolve solve_zero_point(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scales,
                                int bits, int64_t g)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = cols / g, C = scales.size(2);
    const int levels = 1 << bits;
    std::vector<double> hn = normalized_importance(h, g);
    ZeroPointSolve out;
    out.zero = at::empty({rows, groups, C}, w.options().dtype(at::kDouble));
    out.loss = at::empty({rows, groups, C}, w.options().dtype(at::kDouble));
    const double* sp = scales.data_ptr<double>();
    double* zo = out.zero.data_ptr<double>();
    double* lo = out.loss.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_solve_zero_point_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        parallel_for(0, rows * groups, grain_for(g), [&](int64_t k0, int64_t k1) {
            GroupBuffers b(static_cast<int>(g));
            for (int64_t k = k0; k < k1; ++k) {
                int64_t r = k / groups, j = k % groups;
                b.load(wp + r * cols + j * g, hn.data() + j * g, static_cast<int>(g));
                for (int64_t c = 0; c < C; ++c) {
                    const double sc = sp[k * C + c];
                    ScaleSolve s = g <= kExactSweepMaxGroup ? solve_small(b.sg, sc, levels)
                                                            : solve_scale(b.sg, sc, levels, b.ws);
                    zo[k * C + c] = -s.o;
                    lo[k * C + c] = s.loss;
                }
            }
        });
    });
    return out;
}

SearchResult neuqi_search(const at::Tensor& w, const at::Tensor& h, const SearchConfig& cfg,
                          int64_t g)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = cols / g;
    const int levels = 1 << cfg.bits;
    const int grid = cfg.grid;
    std::vector<double> hn = normalized_importance(h, g);
    SearchResult res = make_result(w, groups);
    double* loss_p = res.loss.data_ptr<double>();
    double* mm_p = res.minmax_loss.data_ptr<double>();
    int* idx_p = res.index.data_ptr<int>();

    // The candidate lists are the same for every group: coarse (or full) first, fine after.
    std::vector<int> first_list, first_seq;
    const int step = cfg.full_grid ? 1 : grid / cfg.coarse;
    for (int i = step; i <= grid; i += step) {
        first_list.push_back(i);
        first_seq.push_back(static_cast<int>(first_list.size()));
    }
    const int half = step / 2;

    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_neuqi_search_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        scalar_t* sp = res.scale.data_ptr<scalar_t>();
        scalar_t* zp_ = res.zero.data_ptr<scalar_t>();
        parallel_for(0, rows * groups, grain_for(g), [&](int64_t k0, int64_t k1) {
            GroupBuffers b(static_cast<int>(g));
            std::vector<double> o_s, ub, lb;
            std::vector<int> order, fine_list, fine_seq;
            for (int64_t k = k0; k < k1; ++k) {
                int64_t r = k / groups, j = k % groups;
                const scalar_t* wrow = wp + r * cols + j * g;
                b.load(wrow, hn.data() + j * g, static_cast<int>(g));
                const double s0 = b.minmax_scale(levels);
                Best best;
                evaluate_candidates(b, s0, levels, grid, first_list, first_seq, best, o_s, ub, lb,
                                    order);
                if (!cfg.full_grid && half > 0) {
                    fine_list.clear();
                    fine_seq.clear();
                    for (int d = -half; d <= half; ++d) {
                        int i = best.index + d;
                        if (d == 0 || i < 1)
                            continue;
                        fine_list.push_back(i);
                        fine_seq.push_back(cfg.coarse + 1 + d + half);
                    }
                    evaluate_candidates(b, s0, levels, grid, fine_list, fine_seq, best, o_s, ub, lb,
                                        order);
                }
                finalize_group(wrow, hn.data() + j * g, static_cast<int>(g), levels,
                               candidate_scale(s0, best.index, grid), -best.o, best.index, sp + k,
                               zp_ + k, loss_p + k, mm_p + k, idx_p + k);
            }
        });
    });
    return res;
}

SearchResult neuqi_int_search(const at::Tensor& w, const at::Tensor& h, int bits, int64_t g,
                              int grid)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = cols / g;
    const int levels = 1 << bits;
    std::vector<double> hn = normalized_importance(h, g);
    SearchResult res = make_result(w, groups);
    double* loss_p = res.loss.data_ptr<double>();
    double* mm_p = res.minmax_loss.data_ptr<double>();
    int* idx_p = res.index.data_ptr<int>();
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_neuqi_int_search_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        scalar_t* sp = res.scale.data_ptr<scalar_t>();
        scalar_t* zp_ = res.zero.data_ptr<scalar_t>();
        parallel_for(0, rows * groups, grain_for(g), [&](int64_t k0, int64_t k1) {
            GroupBuffers b(static_cast<int>(g));
            for (int64_t k = k0; k < k1; ++k) {
                int64_t r = k / groups, j = k % groups;
                const scalar_t* wrow = wp + r * cols + j * g;
                b.load(wrow, hn.data() + j * g, static_cast<int>(g));
                const double s0 = b.minmax_scale(levels);
                Best best;
                // Large scales first: they hold the optimum of the integer search in practice.
                // The clipping bound never decreases as s shrinks, so once it exceeds the best
                // loss every smaller scale is out too.
                int hints[2] = {-1, -1};
                for (int i = grid; i >= 1; --i) {
                    double s = candidate_scale(s0, i, grid);
                    if (best.loss < inf_value() &&
                        clipping_lower_bound(b.sg, s, levels, hints) > best.loss * (1.0 + 1e-12))
                        break;
                    double o, l;
                    solve_scale_int(b.sg, s, levels, b.int_scratch.data(), &o, &l);
                    best.offer(l, i, i, o);
                }
                finalize_group(wrow, hn.data() + j * g, static_cast<int>(g), levels,
                               candidate_scale(s0, best.index, grid), -best.o, best.index, sp + k,
                               zp_ + k, loss_p + k, mm_p + k, idx_p + k);
            }
        });
    });
    return res;
}

}  // namespace zp::kernels::cpu
