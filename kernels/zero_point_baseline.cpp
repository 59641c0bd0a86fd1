// The benchmark's baseline: NeUQI's search as the official implementation structures it, with
// tensor operations over all groups at once for each scale candidate. Stage 1 builds the 2n + 1
// surrogate events, argsorts and gathers them, cumsums the coefficients, clamps each piece's vertex
// and takes the argmin; stage 2 does the same with the window's drops. Everything in float64 on
// the tensors' device, with ATen's own threads.
#include <ATen/TensorOperators.h>
#include <ATen/ops/argmin.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/floor.h>
#include <ATen/ops/full.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/minimum.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <limits>
#include <vector>

#include "kernels/device_util.h"
#include "kernels/quantize.h"
#include "kernels/zero_point.h"

namespace zp::kernels {

namespace {

at::Tensor clamp_t(const at::Tensor& v, const at::Tensor& lo, const at::Tensor& hi)
{
    return at::maximum(at::minimum(v, hi), lo);
}

// One scale per group (s [M, 1]) for all M groups: returns the offset o* [M] and the loss [M].
std::pair<at::Tensor, at::Tensor> two_stage_tensor_ops(const at::Tensor& W, const at::Tensor& H,
                                                       const at::Tensor& s, int levels)
{
    const double top = levels - 1;
    at::Tensor x = W / s;
    // Stage 1: surrogate events, sorted; coefficient prefix sums; best clamped vertex.
    at::Tensor xt = x - top;
    at::Tensor init_pos =
        at::full({W.size(0), 1}, -std::numeric_limits<double>::infinity(), W.options());
    at::Tensor pos =
        at::cat({init_pos, x + 0.5, xt - 0.5}, 1);  // bottom at x + 1/2, top at x - N + 1/2
    at::Tensor a0 = at::cat({H.sum(1, true), H, -H}, 1);
    at::Tensor a1 = at::cat({(H * xt).sum(1, true), H * x, -H * xt}, 1);
    at::Tensor a2 =
        at::cat({(H * xt * xt).sum(1, true), H * (x * x - 0.25), -H * (xt * xt - 0.25)}, 1);
    at::Tensor idx = at::argsort(pos, /*dim=*/int64_t(1), /*descending=*/false);
    pos = pos.gather(1, idx);
    a0 = a0.gather(1, idx).cumsum(1);
    a1 = a1.gather(1, idx).cumsum(1);
    a2 = a2.gather(1, idx).cumsum(1);
    const int64_t m = pos.size(1);
    at::Tensor left = pos.narrow(1, 0, m - 1), right = pos.narrow(1, 1, m - 1);
    at::Tensor A0 = a0.narrow(1, 0, m - 1), A1 = a1.narrow(1, 0, m - 1),
               A2 = a2.narrow(1, 0, m - 1);
    at::Tensor A0v = at::where(A0 == 0, at::full_like(A0, 1.0), A0);
    at::Tensor v = clamp_t(A1 / A0v, left, right);
    at::Tensor obj = A0 * v * v - 2.0 * A1 * v + A2;
    at::Tensor o_s = v.gather(1, at::argmin(obj, 1, true));

    // Stage 2: the window [o_s - 1, o_s + 1], its drops sorted, exact pieces.
    at::Tensor l = o_s - 1.0, r = o_s + 1.0;
    at::Tensor u = at::floor(x + 0.5 - l);
    at::Tensor q = u.clamp(0, top);
    at::Tensor rho = x - q;
    at::Tensor t = x + 0.5 - u;
    at::Tensor p0 = at::maximum(t, l), p1 = t + 1.0;
    at::Tensor ok0 = (u >= 1) & (u <= top) & (p0 <= r);
    at::Tensor ok1 = (u >= 2) & (u <= top + 1) & (p1 <= r);
    at::Tensor zero = at::zeros_like(H);
    at::Tensor rr = r.expand_as(p0);
    at::Tensor pos2 = at::cat({l, at::where(ok0, p0, rr), at::where(ok1, p1, rr), r}, 1);
    at::Tensor e1 = at::cat({(H * rho).sum(1, true), at::where(ok0, H, zero),
                             at::where(ok1, H, zero), at::zeros_like(l)},
                            1);
    at::Tensor e2 = at::cat({(H * rho * rho).sum(1, true), at::where(ok0, 2.0 * H * p0, zero),
                             at::where(ok1, 2.0 * H * p1, zero), at::zeros_like(l)},
                            1);
    at::Tensor idx2 = std::get<1>(at::sort(pos2, /*stable=*/true, 1, false));
    pos2 = pos2.gather(1, idx2);
    e1 = e1.gather(1, idx2).cumsum(1);
    e2 = e2.gather(1, idx2).cumsum(1);
    const int64_t m2 = pos2.size(1);
    at::Tensor B1 = e1.narrow(1, 0, m2 - 1), B2 = e2.narrow(1, 0, m2 - 1);
    at::Tensor v2 = clamp_t(B1, pos2.narrow(1, 0, m2 - 1), pos2.narrow(1, 1, m2 - 1));
    at::Tensor obj2 = (v2 - B1) * (v2 - B1) + (B2 - B1 * B1);
    auto best = obj2.min(1, true);
    at::Tensor o = v2.gather(1, std::get<1>(best)).squeeze(1);
    at::Tensor loss = std::get<0>(best).squeeze(1) * (s * s).squeeze(1);
    return {o, loss};
}

}  // namespace

SearchResult neuqi_search_tensor_ops(const at::Tensor& w, const at::Tensor& h,
                                     const SearchConfig& cfg)
{
    TORCH_CHECK(w.dim() == 2 && h.dim() == 1 && h.size(0) == w.size(1),
                "neuqi_search_tensor_ops: bad shapes");
    const int64_t g = resolve_group_size(cfg.group_size, w.size(1));
    if (w.size(1) % g != 0) {
        // A short last group: the whole groups, then the tail as one group (as neuqi_search).
        const int64_t head = (w.size(1) / g) * g, tail = w.size(1) - head;
        SearchConfig whole = cfg, last = cfg;
        whole.group_size = g;
        last.group_size = tail;
        SearchResult a = neuqi_search_tensor_ops(w.narrow(1, 0, head), h.narrow(0, 0, head), whole);
        SearchResult b =
            neuqi_search_tensor_ops(w.narrow(1, head, tail), h.narrow(0, head, tail), last);
        SearchResult r;
        r.scale = at::cat({a.scale, b.scale}, 1);
        r.zero = at::cat({a.zero, b.zero}, 1);
        r.loss = at::cat({a.loss, b.loss}, 1);
        r.minmax_loss = at::cat({a.minmax_loss, b.minmax_loss}, 1);
        r.index = at::cat({a.index, b.index}, 1);
        return r;
    }
    const int64_t rows = w.size(0), groups = w.size(1) / g, M = rows * groups;
    const int levels = 1 << cfg.bits;
    const int grid = cfg.grid;
    const int step = cfg.full_grid ? 1 : grid / cfg.coarse;
    const int half = step / 2;
    TORCH_CHECK(cfg.full_grid || grid % cfg.coarse == 0, "coarse count must divide the grid");

    at::Tensor Wall = w.to(at::kDouble).reshape({M, g});
    at::Tensor Hg = h.to(at::kDouble).reshape({groups, g});
    at::Tensor hs = Hg.sum(1, true);
    Hg = at::where(hs > 0, Hg / hs.clamp_min(1e-300),
                   at::full_like(Hg, 1.0 / static_cast<double>(g)));
    at::Tensor Hall = Hg.unsqueeze(0).expand({rows, groups, g}).reshape({M, g});

    at::Tensor s_best = at::empty({M}, Wall.options());
    at::Tensor o_best = at::empty({M}, Wall.options());
    at::Tensor i_best = at::empty({M}, Wall.options().dtype(at::kLong));
    // Chunks of groups bound the memory of the [M, 2n + 1] event tensors; the work is the same.
    const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 21) / g);
    for (int64_t c0 = 0; c0 < M; c0 += chunk) {
        const int64_t mc = std::min(chunk, M - c0);
        at::Tensor W = Wall.narrow(0, c0, mc);
        at::Tensor H = Hall.narrow(0, c0, mc).contiguous();
        at::Tensor range = std::get<0>(W.max(1, true)) - std::get<0>(W.min(1, true));
        at::Tensor s0 = at::where(range > 0, range / (levels - 1), at::full_like(range, 1.0));
        at::Tensor best = at::full({mc}, std::numeric_limits<double>::infinity(), W.options());
        at::Tensor bo = at::zeros_like(best);
        at::Tensor bi = at::zeros({mc}, W.options().dtype(at::kLong));
        auto consider = [&](const at::Tensor& i_t /*[mc] long*/) {
            at::Tensor s = s0 * i_t.to(at::kDouble).unsqueeze(1) / static_cast<double>(grid);
            auto res = two_stage_tensor_ops(W, H, s, levels);
            at::Tensor better = res.second < best;  // strict: ties keep the earlier candidate
            best = at::where(better, res.second, best);
            bo = at::where(better, res.first, bo);
            bi = at::where(better, i_t, bi);
        };
        for (int i = step; i <= grid; i += step)
            consider(at::full({mc}, i, bi.options()));
        if (!cfg.full_grid && half > 0) {
            at::Tensor ic = bi.clone();
            for (int d = -half; d <= half; ++d) {
                if (d == 0)
                    continue;
                at::Tensor it = ic + d;
                // candidates below 1 do not exist: give them an infinite loss by skipping groups
                at::Tensor valid = it >= 1;
                at::Tensor s =
                    s0 * it.clamp_min(1).to(at::kDouble).unsqueeze(1) / static_cast<double>(grid);
                auto res = two_stage_tensor_ops(W, H, s, levels);
                at::Tensor better = valid & (res.second < best);
                best = at::where(better, res.second, best);
                bo = at::where(better, res.first, bo);
                bi = at::where(better, it, bi);
            }
        }
        s_best.narrow(0, c0, mc).copy_(
            (s0.squeeze(1) * bi.to(at::kDouble) / static_cast<double>(grid)));
        o_best.narrow(0, c0, mc).copy_(bo);
        i_best.narrow(0, c0, mc).copy_(bi);
    }
    // Same finishing as neuqi_search: store in w's dtype, evaluate exactly, keep Min-Max if better.
    return detail::finalize_search(w, h, cfg.bits, g, s_best, o_best, i_best.to(at::kInt));
}

}  // namespace zp::kernels
