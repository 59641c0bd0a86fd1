// NeUQI's zero-point solver for one (row, group) and one scale (core/MATHS.md sections 3-4),
// as portable scalar code shared by the CPU kernel (one thread per group) and the CUDA kernel (one
// thread per (group, scale candidate)).
//
// Work is in units of s: x = w/s, offset o = -z, code = clamp(round(x - o), 0, N-1), and h is
// normalised to sum 1 within the group. The group's weights are sorted once (x keeps the order of
// w for every s > 0), with prefix sums of h, h w and h w^2; everything below reads those.
//
// Stage 1 (the surrogate) is convex in o: each element contributes a decreasing quadratic tail, a
// flat middle and an increasing quadratic tail. Its minimum is found by bisection over the 2n
// break points with prefix sums, O(log^2 n), instead of the O(n log n) sweep.
//
// Stage 2 (the exact loss on the window [o_S - 1, o_S + 1]) is f(o) = o^2 - 2 B1(o) o + B2(o):
// unit curvature everywhere and, at each level drop, a concave kink (B1 += h, B2 += 2 h tau). So
// with f_a the quadratic valid at the start a of an interval [a, b] holding drops of mass H,
//     f_a(o) - 2 (b - a) H  <=  f(o)  <=  f_a(o)     on [a, b].
// The window is cut into bins; one pass accumulates each bin's drops, the bounds above prune every
// bin that cannot hold the minimum, and only the surviving bins' drops are gathered, sorted and
// swept exactly (bins with too many drops are binned again). The result is the exact minimum on
// the window, the same as the sorted sweep, in O(n) per scale instead of O(n log n).
#pragma once

#include <cstdint>

#include "kernels/portable.h"

namespace zp::kernels::detail {

struct SortedGroup {
    const double* w;   // sorted ascending, n
    const double* h;   // normalised importance (sum 1), in the order of w
    const double* p0;  // prefix sums, n + 1 each: sum h, sum h w, sum h w^2
    const double* p1;
    const double* p2;
    int n;
};

struct DropEvent {
    double tau;
    double h;
};

// One bin's accumulated drops, kept together so that binning a drop touches one cache line.
struct BinAcc {
    double h;   // mass of the drops
    double ht;  // sum of h * tau
    int count;
};

// Scratch for stage 2: kLevels levels of `bins` bins and room for `event_cap` gathered drops.
struct Stage2Workspace {
    static constexpr int kLevels = 4;
    int bins = 0;
    int event_cap = 0;
    BinAcc* bin_acc = nullptr;    // [kLevels * bins]
    double* bin_b1 = nullptr;     // [kLevels * bins] B1 at the bin's start
    double* bin_b2 = nullptr;     // [kLevels * bins]
    double* bin_lb = nullptr;     // [kLevels * bins] lower bound of f on the bin
    int* bin_order = nullptr;     // [kLevels * bins] candidate bins sorted by lower bound
    int* bin_offset = nullptr;    // [bins + 1] (level 0 gathering)
    DropEvent* events = nullptr;  // [event_cap]
    // Optional (CPU): every level-0 drop with its bin, recorded by the binning pass so that the
    // gathering pass reads them back instead of recomputing them. [raw_cap] each, raw_cap >= 2n.
    DropEvent* raw_events = nullptr;
    int* raw_bins = nullptr;
    int raw_cap = 0;
    // Optional (CPU, small groups): level-0 drops scattered straight into per-bin buckets of
    // bucket_cap slots ([bins * bucket_cap]), so that a candidate bin is sorted in place and no
    // gathering pass is needed. A bin that overflows its bucket is gathered the general way.
    DropEvent* buckets = nullptr;
    int bucket_cap = 0;
};

struct WindowMin {
    double o = 0.0;       // minimiser (offset o = -z)
    double f = 0.0;       // f(o) with sum h = 1 (multiply by s^2 for the loss)
    bool pruned = false;  // true when no point of the window could beat the caller's threshold
};

// ---- prefix-sum helpers ------------------------------------------------------------------------

// Number of elements with w * inv_s <= v (upper bound), by binary search.
ZP_HD int count_le(const SortedGroup& g, double inv_s, double v)
{
    int lo = 0, hi = g.n;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (g.w[mid] * inv_s <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

// Number of elements with w * inv_s < v (lower bound).
ZP_HD int count_lt(const SortedGroup& g, double inv_s, double v)
{
    int lo = 0, hi = g.n;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (g.w[mid] * inv_s < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

// Sums over elements [a, b) in units of s: mass, sum h x, sum h x^2.
ZP_HD void range_sums(const SortedGroup& g, double inv_s, int a, int b, double* m, double* s1,
                      double* s2)
{
    *m = g.p0[b] - g.p0[a];
    *s1 = (g.p1[b] - g.p1[a]) * inv_s;
    *s2 = (g.p2[b] - g.p2[a]) * inv_s * inv_s;
}

// ---- stage 1: convex clipped-tail function ------------------------------------------------------
// F_delta(o) = sum_{x <= o - delta} h (x - o)^2 + sum_{x >= o + N - 1 + delta} h (x - N + 1 - o)^2
//            + delta^2 * (mass of the others).
// delta = 1/2 is NeUQI's surrogate (an upper bound of the exact loss); delta = 0 is the loss of
// clipping alone (a lower bound of the exact loss for every o).

struct ConvexPiece {
    double a0, a1, a2;  // F = a0 o^2 - 2 a1 o + a2 on the piece
};

ZP_HD ConvexPiece convex_piece(const SortedGroup& g, double inv_s, int levels, double delta, int kb,
                               int kt)
{
    // bottom-clipped: [0, kb); top-clipped: [kt, n); kb <= kt always.
    double mb, sb1, sb2, mt, st1, st2;
    range_sums(g, inv_s, 0, kb, &mb, &sb1, &sb2);
    range_sums(g, inv_s, kt, g.n, &mt, &st1, &st2);
    double top = static_cast<double>(levels - 1);
    ConvexPiece p;
    p.a0 = mb + mt;
    p.a1 = sb1 + (st1 - top * mt);
    double middle = g.p0[g.n] - p.a0;
    p.a2 = sb2 + (st2 - 2.0 * top * st1 + top * top * mt) + delta * delta * middle;
    return p;
}

// Right derivative sign of F_delta at o: returns true if F'(o+) >= 0.
ZP_HD bool convex_rising(const SortedGroup& g, double inv_s, int levels, double delta, double o)
{
    int kb = count_le(g, inv_s, o - delta);
    int kt = imax(kb, count_le(g, inv_s, o + (levels - 1) + delta));
    ConvexPiece p = convex_piece(g, inv_s, levels, delta, kb, kt);
    return p.a0 * o - p.a1 >= 0.0;
}

// The same at a break point generated by sorted element j: b_j = x_j + delta (bottom = true; the
// elements up to j, and its ties, are bottom-clipped) or c_j = x_j - (N - 1) - delta (bottom =
// false; the elements from j on are top-clipped). One binary search instead of two.
ZP_HD bool convex_rising_at(const SortedGroup& g, double inv_s, int levels, double delta, int j,
                            bool bottom)
{
    const double xj = g.w[j] * inv_s;
    int kb, kt;
    double o;
    if (bottom) {
        o = xj + delta;
        kb = j + 1;
        while (kb < g.n && g.w[kb] == g.w[j])
            ++kb;
        kt = imax(kb, count_le(g, inv_s, o + (levels - 1) + delta));
    } else {
        o = xj - (levels - 1) - delta;
        kt = j + 1;
        while (kt < g.n && g.w[kt] == g.w[j])
            ++kt;
        kb = imin(kt, count_le(g, inv_s, o - delta));
    }
    ConvexPiece p = convex_piece(g, inv_s, levels, delta, kb, kt);
    return p.a0 * o - p.a1 >= 0.0;
}

// The number of break points of one list (b_j: bottom = true; c_j: bottom = false) at which
// F_delta's right derivative is still negative, i.e. the first j where it is not (n if none). The
// predicate is monotone in j. hint (>= 0): a guess, e.g. the answer at a neighbouring scale; the
// search gallops out from it, so a good hint costs O(1) derivative evaluations instead of O(log n).
ZP_HD int first_rising(const SortedGroup& g, double inv_s, int levels, double delta, bool bottom,
                       int hint)
{
    const int n = g.n;
    int lo = 0, hi = n;  // the answer lies in [lo, hi]
    if (hint >= 0 && n > 0) {
        const int h = imin(hint, n - 1);
        if (convex_rising_at(g, inv_s, levels, delta, h, bottom)) {
            hi = h;
            for (int step = 1;; step <<= 1) {
                const int probe = hi - step;
                if (probe < lo)
                    break;
                if (!convex_rising_at(g, inv_s, levels, delta, probe, bottom)) {
                    lo = probe + 1;
                    break;
                }
                hi = probe;
            }
        } else {
            lo = h + 1;
            for (int step = 1;; step <<= 1) {
                const int probe = lo - 1 + step;
                if (probe >= hi)
                    break;
                if (convex_rising_at(g, inv_s, levels, delta, probe, bottom)) {
                    hi = probe;
                    break;
                }
                lo = probe + 1;
            }
        }
    }
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (convex_rising_at(g, inv_s, levels, delta, mid, bottom))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

// Minimiser and minimum of F_delta. Its right derivative is non-decreasing, so the piece holding
// the minimum lies between the last break point where it is negative and the first where it is
// not. Both break point lists are sorted (b_i = x_i + delta, c_i = x_i - (N - 1) - delta): one
// search on each, every step evaluating the derivative with one binary search, so O(log^2 n) in
// all, or O(log n) with good hints. hints (optional, in/out): {nb, nc} of a neighbouring call, or
// negative for none; updated with this call's values.
ZP_HD void convex_min(const SortedGroup& g, double inv_s, int levels, double delta, double* o_min,
                      double* f_min, int* hints = nullptr)
{
    const double shift = (levels - 1) + delta;
    const int n = g.n;
    const int nb = first_rising(g, inv_s, levels, delta, true, hints ? hints[0] : -1);
    const int nc = first_rising(g, inv_s, levels, delta, false, hints ? hints[1] : -1);
    if (hints) {
        hints[0] = nb;
        hints[1] = nc;
    }
    double lo = -inf_value(), hi = inf_value();
    if (nb > 0)
        lo = g.w[nb - 1] * inv_s + delta;
    if (nc > 0)
        lo = dmax(lo, g.w[nc - 1] * inv_s - shift);
    if (nb < n)
        hi = g.w[nb] * inv_s + delta;
    if (nc < n)
        hi = dmin(hi, g.w[nc] * inv_s - shift);
    if (!(hi < inf_value()))
        hi = g.w[n - 1] * inv_s + delta + 1.0;
    if (!(lo > -inf_value()))
        lo = hi - 1.0;
    if (lo > hi)
        lo = hi;
    double om = 0.5 * (lo + hi);
    int kb = count_le(g, inv_s, om - delta);
    int kt = imax(kb, count_le(g, inv_s, om + shift));
    ConvexPiece p = convex_piece(g, inv_s, levels, delta, kb, kt);
    double a0 = p.a0 > 0.0 ? p.a0 : 1.0;
    double o = dclamp(p.a1 / a0, lo, hi);
    *o_min = o;
    *f_min = p.a0 * o * o - 2.0 * p.a1 * o + p.a2;
}

// ---- stage 2: exact loss on a window -----------------------------------------------------------

struct Stage2Context {
    const SortedGroup* g;
    double inv_s;
    int levels;
    double l, r;    // window
    int ia, ib;     // active elements [ia, ib): those that change level inside the window
    double bound;   // best upper bound on min f seen so far (pruning threshold)
    double best_f;  // exact best found
    double best_o;
    bool found;
    // The bins a deeper level refines: a drop belongs to it iff it fell in bin path_k[j] of level
    // j for every j above, tested with the very expression that binned it (no boundary drift).
    double path_a[Stage2Workspace::kLevels];
    double path_inv_width[Stage2Workspace::kLevels];
    int path_k[Stage2Workspace::kLevels];
};

ZP_HD int bin_of(double tau, double a, double inv_width, int bins)
{
    double k = (tau - a) * inv_width;
    if (!(k >= 0.0))
        return 0;
    if (k >= bins)
        return bins - 1;
    return static_cast<int>(k);
}

// The drops of active element i inside the window: *count of them in tau[]/h (0, 1 or 2).
// First drop at t in [l, l + 1) (always inside; rounding may put it a hair below l, it is then
// applied at l), second at t + 1 when below r.
ZP_HD int element_drops(const Stage2Context& c, int i, double* tau, double* rho = nullptr)
{
    double x = c.g->w[i] * c.inv_s;
    double uf = fast_floor(x + 0.5 - c.l);  // active elements: 1 <= uf <= N
    if (uf < 1.0)
        uf = 1.0;
    else if (uf > c.levels)
        uf = static_cast<double>(c.levels);
    if (rho)  // the element's error offset at o = l: level min(u, N - 1)
        *rho = x - dmin(uf, static_cast<double>(c.levels - 1));
    double t = x + 0.5 - uf;
    int cnt = 0;
    if (uf <= c.levels - 1)
        tau[cnt++] = t;
    if (uf >= 2.0 && t + 1.0 < c.r)
        tau[cnt++] = t + 1.0;
    return cnt;
}

ZP_HD bool in_path(const Stage2Context& c, int level, int bins, double tau)
{
    for (int j = 0; j < level; ++j)
        if (bin_of(tau, c.path_a[j], c.path_inv_width[j], bins) != c.path_k[j])
            return false;
    return true;
}

// Sorts events by tau: insertion sort for short runs, heapsort otherwise (no recursion, no std).
ZP_HD void sort_events(DropEvent* e, int m)
{
    if (m <= 24) {
        for (int i = 1; i < m; ++i) {
            DropEvent v = e[i];
            int j = i - 1;
            while (j >= 0 && e[j].tau > v.tau) {
                e[j + 1] = e[j];
                --j;
            }
            e[j + 1] = v;
        }
        return;
    }
    for (int start = m / 2 - 1; start >= 0; --start) {
        int root = start;
        while (2 * root + 1 < m) {
            int child = 2 * root + 1;
            if (child + 1 < m && e[child].tau < e[child + 1].tau)
                ++child;
            if (!(e[root].tau < e[child].tau))
                break;
            DropEvent tmp = e[root];
            e[root] = e[child];
            e[child] = tmp;
            root = child;
        }
    }
    for (int end = m - 1; end > 0; --end) {
        DropEvent tmp = e[0];
        e[0] = e[end];
        e[end] = tmp;
        int root = 0;
        while (2 * root + 1 < end) {
            int child = 2 * root + 1;
            if (child + 1 < end && e[child].tau < e[child + 1].tau)
                ++child;
            if (!(e[root].tau < e[child].tau))
                break;
            DropEvent t2 = e[root];
            e[root] = e[child];
            e[child] = t2;
            root = child;
        }
    }
}

ZP_HD void consider(Stage2Context& c, double o, double f)
{
    if (!c.found || f < c.best_f || (f == c.best_f && o < c.best_o)) {
        c.best_f = f;
        c.best_o = o;
        c.found = true;
        if (f < c.bound)
            c.bound = f;
    }
}

// Exact sweep of sorted events over [a, b] starting from (b1, b2) at a. On each piece the minimum
// of o^2 - 2 B1 o + B2 is at clamp(B1, piece), value (o - B1)^2 + B2 - B1^2.
ZP_HD void sweep_sorted(Stage2Context& c, const DropEvent* e, int m, double a, double b, double b1,
                        double b2)
{
    double start = a;
    for (int k = 0; k <= m; ++k) {
        double end = k < m ? dmin(dmax(e[k].tau, start), b) : b;
        double o = dclamp(b1, start, end);
        double d = o - b1;
        consider(c, o, d * d + (b2 - b1 * b1));
        if (k < m) {
            b1 += e[k].h;
            b2 += 2.0 * e[k].h * e[k].tau;
            start = end;
        }
    }
}

// Exact sweep of the drops of bin `k` at `level` without gathering them: repeatedly selects the
// next distinct drop position by a scan. Only for bins that stay crowded after re-binning at the
// deepest level (many equal weights), where the distinct positions are few.
ZP_HD void sweep_by_selection(Stage2Context& c, int level, int bins, double a, double b, double b1,
                              double b2)
{
    double start = a;
    double prev = -inf_value();
    for (;;) {
        double next = inf_value(), mass = 0.0;
        for (int i = c.ia; i < c.ib; ++i) {
            double tau[2];
            int cnt = element_drops(c, i, tau);
            for (int d = 0; d < cnt; ++d) {
                if (!(tau[d] > prev) || !in_path(c, level + 1, bins, tau[d]))
                    continue;
                if (tau[d] < next) {
                    next = tau[d];
                    mass = c.g->h[i];
                } else if (tau[d] == next) {
                    mass += c.g->h[i];
                }
            }
        }
        bool more = next < inf_value();
        double end = more ? dmin(dmax(next, start), b) : b;
        double o = dclamp(b1, start, end);
        double d = o - b1;
        consider(c, o, d * d + (b2 - b1 * b1));
        if (!more)
            return;
        b1 += mass;
        b2 += 2.0 * mass * next;
        start = end;
        prev = next;
    }
}

// Level 0's binning pass over the active elements: adds their share of (B1, B2) at the window's
// start to *b1, *b2 and every drop to its bin's sums; kKeepBuckets also stores the drop in its
// bin's bucket (small groups), kKeepRecord in the record of every drop with its bin (large ones).
enum BinningMode { kSumsOnly, kKeepBuckets, kKeepRecord };

template <int Mode>
ZP_HD void bin_active_drops(const Stage2Context& c, Stage2Workspace& ws, double a, double inv_width,
                            BinAcc* acc, double* b1, double* b2, int* recorded)
{
    const int K = ws.bins, cap = ws.bucket_cap;
    double ab1 = 0.0, ab2 = 0.0;
    for (int i = c.ia; i < c.ib; ++i) {
        double tau[2], rho;
        int cnt = element_drops(c, i, tau, &rho);
        const double hi = c.g->h[i];
        ab1 += hi * rho;
        ab2 += hi * rho * rho;
        for (int d = 0; d < cnt; ++d) {
            const int k = bin_of(tau[d], a, inv_width, K);
            BinAcc& bk = acc[k];
            if (Mode == kKeepBuckets) {
                const int slot = bk.count < cap ? bk.count : cap - 1;  // overflow: gathered later
                ws.buckets[k * cap + slot] = DropEvent{tau[d], hi};
            } else if (Mode == kKeepRecord) {
                ws.raw_events[*recorded] = DropEvent{tau[d], hi};
                ws.raw_bins[(*recorded)++] = k;
            }
            bk.h += hi;
            bk.ht += hi * tau[d];
            bk.count += 1;
        }
    }
    *b1 += ab1;
    *b2 += ab2;
}

// One level of stage 2's search, as stage2_range keeps it on its explicit stack.
struct Stage2Frame {
    double a = 0.0, b = 0.0, width = 0.0;
    int m = 0;  // candidate bins, in ws.bin_order + level * bins
    int j = 0;  // the next candidate to visit
    bool bucketed = false, gathered = false;
};

// Enters a level of stage 2 over [a, b) given (b1, b2) at a (the whole window at level 0, one bin
// of the level above otherwise): bins the drops of the current path, bounds f on each bin and
// lists the candidate bins by lower bound into f. At level 0 the active elements' share of
// (b1, b2) is added here, in the binning pass, and the caller passes the clipped rest.
ZP_HD void stage2_enter(Stage2Context& c, Stage2Workspace& ws, int level, double a, double b,
                        double b1, double b2, Stage2Frame& f)
{
    const int K = ws.bins;
    BinAcc* acc = ws.bin_acc + level * K;
    double* bb1 = ws.bin_b1 + level * K;
    double* bb2 = ws.bin_b2 + level * K;
    double* blb = ws.bin_lb + level * K;
    int* order = ws.bin_order + level * K;
    const double width = (b - a) / K;
    const double inv_width = 1.0 / width;
    c.path_a[level] = a;
    c.path_inv_width[level] = inv_width;
    for (int k = 0; k < K; ++k) {
        acc[k].h = 0.0;
        acc[k].ht = 0.0;
        acc[k].count = 0;
    }
    const bool bucketed = level == 0 && ws.buckets;
    const bool record = level == 0 && !bucketed && ws.raw_events && ws.raw_cap >= 2 * (c.ib - c.ia);
    int recorded = 0;
    if (level == 0) {
        // Mode as a template argument: the per-drop choice costs nothing inside the loop.
        if (bucketed)
            bin_active_drops<kKeepBuckets>(c, ws, a, inv_width, acc, &b1, &b2, &recorded);
        else if (record)
            bin_active_drops<kKeepRecord>(c, ws, a, inv_width, acc, &b1, &b2, &recorded);
        else
            bin_active_drops<kSumsOnly>(c, ws, a, inv_width, acc, &b1, &b2, &recorded);
    } else {
        for (int i = c.ia; i < c.ib; ++i) {
            double tau[2];
            int cnt = element_drops(c, i, tau);
            for (int d = 0; d < cnt; ++d) {
                if (!in_path(c, level, K, tau[d]))
                    continue;
                BinAcc& bk = acc[bin_of(tau[d], a, inv_width, K)];
                bk.h += c.g->h[i];
                bk.ht += c.g->h[i] * tau[d];
                bk.count += 1;
            }
        }
    }
    // Bounds per bin; the upper bounds tighten the pruning threshold.
    for (int k = 0; k < K; ++k) {
        double ba = a + k * width, bb = k == K - 1 ? b : a + (k + 1) * width;
        bb1[k] = b1;
        bb2[k] = b2;
        const double mass = acc[k].h, w = bb - ba;
        // Upper bound: f_a, the quadratic valid at the bin's start, lies above f on the bin.
        double o = dclamp(b1, ba, bb);
        double d = o - b1;
        const double ub = d * d + (b2 - b1 * b1);
        // Lower bound: f = f_a - 2 sum h (o - tau)+ on the bin; that sum of hinges is convex, 0 at
        // ba and (mass bb - sum h tau) at bb, so it lies below its chord, and
        // f >= f_a - 2 lambda (o - ba) with lambda = (mass bb - sum h tau) / (bb - ba) in
        // [0, mass]. (The cruder f_a - 2 (bb - ba) mass visited about six times more bins.)
        double lambda = w > 0.0 ? (mass * bb - acc[k].ht) / w : mass;
        lambda = dclamp(lambda, 0.0, mass);
        o = dclamp(b1 + lambda, ba, bb);
        d = o - b1;
        const double e1 = b1 + mass, e2 = b2 + 2.0 * acc[k].ht;
        // This bound is tight (exact at both ends of the bin), so it is lowered by the rounding
        // the exact sweep may differ by: f is evaluated as d^2 + (B2 - B1^2), whose terms are of
        // size B1^2 (up to (N - 1)^2), with B1 and B2 summed over the bin's drops in another order.
        const double size = dmax(dmax(b1 * b1, fabs(b2)), dmax(e1 * e1, fabs(e2)));
        const double allowance = (8.0 + 4.0 * acc[k].count) * 2.3e-16 * size;
        blb[k] = d * d + (b2 - b1 * b1) - 2.0 * lambda * (o - ba) - allowance;
        if (ub < c.bound)
            c.bound = ub;
        b1 = e1;
        b2 = e2;
    }
    // Candidate bins, sorted by lower bound (insertion: the list is short).
    const double margin = 1e-12;
    int m = 0;
    for (int k = 0; k < K; ++k) {
        if (blb[k] <= c.bound + margin * (1.0 + c.bound)) {
            int j = m++;
            while (j > 0 && blb[order[j - 1]] > blb[k]) {
                order[j] = order[j - 1];
                --j;
            }
            order[j] = k;
        }
    }
    // At level 0 (with a gathering buffer), collect every candidate bin's drops in one pass when
    // they fit; bin_offset[k] = start of bin k's segment, -1 for bins not gathered.
    bool gathered = false;
    if (level == 0 && !bucketed && ws.bin_offset) {
        int total = 0;
        for (int j = 0; j < m; ++j)
            total += acc[order[j]].count;
        if (total <= ws.event_cap) {
            for (int k = 0; k < K; ++k)
                ws.bin_offset[k] = -1;
            for (int j = 0; j < m; ++j)
                ws.bin_offset[order[j]] = 0;
            int run = 0;
            int* fill = ws.bin_order + K;  // level 1's order array is free while level 0 gathers
            for (int k = 0; k < K; ++k) {
                if (ws.bin_offset[k] >= 0) {
                    ws.bin_offset[k] = run;
                    fill[k] = run;
                    run += acc[k].count;
                }
            }
            if (record) {
                for (int e = 0; e < recorded; ++e) {
                    int k = ws.raw_bins[e];
                    if (ws.bin_offset[k] >= 0)
                        ws.events[fill[k]++] = ws.raw_events[e];
                }
            } else {
                for (int i = c.ia; i < c.ib; ++i) {
                    double tau[2];
                    int cnt = element_drops(c, i, tau);
                    for (int d = 0; d < cnt; ++d) {
                        int k = bin_of(tau[d], a, inv_width, K);
                        if (ws.bin_offset[k] >= 0)
                            ws.events[fill[k]++] = DropEvent{tau[d], c.g->h[i]};
                    }
                }
            }
            gathered = true;
        }
    }
    f.a = a;
    f.b = b;
    f.width = width;
    f.m = m;
    f.j = 0;
    f.bucketed = bucketed;
    f.gathered = gathered;
}

// Minimises f over the drops in [a, b) given (b1, b2) at a (stage2_enter at level 0), descending
// into a bin's finer bins while it holds too many drops to sort, up to kLevels levels. Iterative,
// with the levels on a fixed stack of kLevels frames: no recursion, so the device stack holds one
// frame whatever the group size (ptxas cannot size a recursive call's stack).
ZP_HD void stage2_range(Stage2Context& c, Stage2Workspace& ws, double a, double b, double b1,
                        double b2)
{
    constexpr int kLevels = Stage2Workspace::kLevels;
    const double margin = 1e-12;
    const int K = ws.bins;
    Stage2Frame st[kLevels];
    int level = 0;
    stage2_enter(c, ws, 0, a, b, b1, b2, st[0]);
    while (level >= 0) {
        Stage2Frame& f = st[level];
        if (f.j >= f.m) {
            --level;
            continue;
        }
        const BinAcc* acc = ws.bin_acc + level * K;
        const double* bb1 = ws.bin_b1 + level * K;
        const double* bb2 = ws.bin_b2 + level * K;
        const double* blb = ws.bin_lb + level * K;
        const int k = ws.bin_order[level * K + f.j++];
        if (blb[k] > c.bound + margin * (1.0 + c.bound)) {
            f.j = f.m;  // sorted by lower bound: no later bin can do better
            continue;
        }
        double ba = f.a + k * f.width, bb = k == K - 1 ? f.b : f.a + (k + 1) * f.width;
        c.path_k[level] = k;
        if (acc[k].count == 0) {
            double o = dclamp(bb1[k], ba, bb);
            double d = o - bb1[k];
            consider(c, o, d * d + (bb2[k] - bb1[k] * bb1[k]));
        } else if (f.bucketed && acc[k].count <= ws.bucket_cap) {
            DropEvent* e = ws.buckets + k * ws.bucket_cap;
            sort_events(e, acc[k].count);
            sweep_sorted(c, e, acc[k].count, ba, bb, bb1[k], bb2[k]);
        } else if (f.gathered) {
            DropEvent* e = ws.events + ws.bin_offset[k];
            sort_events(e, acc[k].count);
            sweep_sorted(c, e, acc[k].count, ba, bb, bb1[k], bb2[k]);
        } else if (acc[k].count <= ws.event_cap) {
            int cnt = 0;
            for (int i = c.ia; i < c.ib && cnt < acc[k].count; ++i) {
                double tau[2];
                int nd = element_drops(c, i, tau);
                for (int d = 0; d < nd; ++d)
                    if (in_path(c, level + 1, K, tau[d]))
                        ws.events[cnt++] = DropEvent{tau[d], c.g->h[i]};
            }
            sort_events(ws.events, cnt);
            sweep_sorted(c, ws.events, cnt, ba, bb, bb1[k], bb2[k]);
        } else if (level + 1 < kLevels) {
            stage2_enter(c, ws, level + 1, ba, bb, bb1[k], bb2[k], st[level + 1]);
            ++level;
        } else {
            sweep_by_selection(c, level, K, ba, bb, bb1[k], bb2[k]);
        }
    }
}

// Exact minimum of f on [l, l + 2]. threshold: the caller's best f so far (+inf for none); windows
// that cannot go below it are reported as pruned.
ZP_HD WindowMin stage2_min(const SortedGroup& g, double inv_s, int levels, double l,
                           double threshold, Stage2Workspace& ws)
{
    Stage2Context c;
    c.g = &g;
    c.inv_s = inv_s;
    c.levels = levels;
    c.l = l;
    c.r = l + 2.0;
    c.ia = count_lt(g, inv_s, l + 0.5);
    c.ib = imax(c.ia, count_lt(g, inv_s, l + levels + 0.5));
    c.bound = threshold;
    c.found = false;
    c.best_f = inf_value();
    c.best_o = l;
    // B1, B2 at o = l. Below the active range the level is 0, above it N - 1, in the window.
    double top = static_cast<double>(levels - 1);
    double m, s1, s2, b1, b2;
    range_sums(g, inv_s, 0, c.ia, &m, &s1, &s2);
    b1 = s1;
    b2 = s2;
    range_sums(g, inv_s, c.ib, g.n, &m, &s1, &s2);
    b1 += s1 - top * m;
    b2 += s2 - 2.0 * top * s1 + top * top * m;
    stage2_range(c, ws, c.l, c.r, b1, b2);  // adds the active elements' share
    WindowMin out;
    out.pruned = !c.found;
    out.o = c.best_o;
    out.f = c.found ? c.best_f : inf_value();
    return out;
}

// ---- one (group, scale) ------------------------------------------------------------------------

struct ScaleSolve {
    double o;     // optimal offset (z = -o)
    double loss;  // s^2 f(o), +inf when pruned
    bool pruned;
};

// Stage 2 at scale s around a stage-1 minimiser o_s. loss_threshold: report pruned (loss = +inf)
// when no point of the window can go below it; +inf for an exact value.
ZP_HD ScaleSolve solve_scale_window(const SortedGroup& g, double s, int levels, double o_s,
                                    double loss_threshold, Stage2Workspace& ws)
{
    ScaleSolve out;
    const double s2 = s * s;
    WindowMin wm = stage2_min(g, 1.0 / s, levels, o_s - 1.0, loss_threshold / s2, ws);
    out.o = wm.o;
    out.loss = wm.pruned ? inf_value() : s2 * wm.f;
    out.pruned = wm.pruned;
    return out;
}

// Stage 1 at scale s: the surrogate's minimiser; *upper = s^2 * surrogate minimum, an upper bound
// of the exact loss at s (the surrogate charges every unclipped element the worst error 1/2).
ZP_HD double stage1_offset(const SortedGroup& g, double s, int levels, double* upper,
                           int* hints = nullptr)
{
    double o_s, f_s;
    convex_min(g, 1.0 / s, levels, 0.5, &o_s, &f_s, hints);
    if (upper)
        *upper = s * s * f_s;
    return o_s;
}

// s^2 * min_o (loss of clipping alone): a lower bound of the exact loss at s for every z.
ZP_HD double clipping_lower_bound(const SortedGroup& g, double s, int levels, int* hints = nullptr)
{
    double o, f;
    convex_min(g, 1.0 / s, levels, 0.0, &o, &f, hints);
    return s * s * f;
}

// The full two-stage solve at scale s (exact value, no pruning).
ZP_HD ScaleSolve solve_scale(const SortedGroup& g, double s, int levels, Stage2Workspace& ws)
{
    double o_s = stage1_offset(g, s, levels, nullptr);
    return solve_scale_window(g, s, levels, o_s, inf_value(), ws);
}

// ---- small groups: the exact sweep, without materialising its events -------------------------
// Groups this small (kSmallGroupMax elements or fewer) are swept exactly: the surrogate is a poor
// guide to where a 2- or 3-element group's optimum lies. The same sweep as the full-sweep
// reference (zero_point_reference.cpp), for host and device: element i changes level at the
// n(N-1) offsets x_i - j - 1/2 (j = N-2 down to 0 in increasing o), and instead of sorting them a
// k-way merge takes the smallest head of the n lists at each step (n <= 8: a scan), so no scratch
// is needed. The loss at the best offset is then evaluated directly (the incremental sums drift
// over up to 2,040 events), as the reference does.
constexpr int kSmallGroupMax = 8;

// f(o) = sum h (x - o - clamp(round(x - o), 0, N - 1))^2 with x = w / s, evaluated directly.
ZP_HD double direct_offset_loss(const SortedGroup& g, double s, int levels, double o)
{
    const double top = static_cast<double>(levels - 1);
    double acc = 0.0;
    for (int i = 0; i < g.n; ++i) {
        const double v = g.w[i] / s - o;
        const double q = dclamp(round_half_even(v), 0.0, top);
        const double e = v - q;
        acc += g.h[i] * e * e;
    }
    return acc;
}

// Exact minimum over o of f at scale s for a group of at most kSmallGroupMax elements.
ZP_HD ScaleSolve solve_small_group(const SortedGroup& g, double s, int levels)
{
    const int n = g.n < kSmallGroupMax ? g.n : kSmallGroupMax;
    const double top = static_cast<double>(levels - 1);
    double x[kSmallGroupMax];
    int next_j[kSmallGroupMax];  // each element's next level change is at x - next_j - 1/2
    double b1 = 0.0, b2 = 0.0;
    for (int i = 0; i < n; ++i) {
        x[i] = g.w[i] / s;
        next_j[i] = levels - 2;
        const double rho = x[i] - top;  // o -> -inf: every element at the top level
        b1 += g.h[i] * rho;
        b2 += g.h[i] * rho * rho;
    }
    double best_f = inf_value(), best_o = 0.0;
    double start = -inf_value();
    for (;;) {
        int k = -1;
        double tau = inf_value();
        for (int i = 0; i < n; ++i) {
            if (next_j[i] < 0)
                continue;
            const double t = x[i] - next_j[i] - 0.5;
            // ties: the lighter element first, as the reference's sort of (tau, h) pairs
            if (k < 0 || t < tau || (t == tau && g.h[i] < g.h[k])) {
                k = i;
                tau = t;
            }
        }
        const double end = k >= 0 ? tau : inf_value();
        const double o = dmin(dmax(b1, start), end);
        const double d = o - b1;
        const double f = d * d + (b2 - b1 * b1);
        if (f < best_f) {
            best_f = f;
            best_o = o;
        }
        if (k < 0)
            break;
        b1 += g.h[k];
        b2 += 2.0 * g.h[k] * tau;
        start = end;
        --next_j[k];
    }
    ScaleSolve out;
    out.o = best_o;
    out.loss = s * s * direct_offset_loss(g, s, levels, best_o);
    out.pruned = false;
    return out;
}

// ---- NeUQI-int: integer zero-points 0..N-1 at one scale, each exact
// ------------------------------ For integer o, round(x - o) = round(x) - o, so each element is
// either inside the grid (error x - round(x)) or clipped; with x sorted the inside set is a
// contiguous range for every o. scratch: n + 1 doubles (prefix sums of h e^2 along the sorted
// order).
ZP_HD void solve_scale_int(const SortedGroup& g, double s, int levels, double* scratch,
                           double* best_o, double* best_loss)
{
    const double inv_s = 1.0 / s;
    scratch[0] = 0.0;
    for (int i = 0; i < g.n; ++i) {
        double x = g.w[i] * inv_s;
        double e = x - round_half_even(x);
        scratch[i + 1] = scratch[i] + g.h[i] * e * e;
    }
    double bf = inf_value(), bo = 0.0;
    const double top = static_cast<double>(levels - 1);
    for (int zi = 0; zi < levels; ++zi) {
        double o = -static_cast<double>(zi);
        // inside: o - 1/2 < x < o + N - 1/2 (ties at the ends are measure-zero and equal in loss)
        int a = count_le(g, inv_s, o - 0.5);
        int b = imax(a, count_lt(g, inv_s, o + top + 0.5));
        double m, s1, s2;
        range_sums(g, inv_s, 0, a, &m, &s1, &s2);
        double f = s2 - 2.0 * o * s1 + o * o * m;
        range_sums(g, inv_s, b, g.n, &m, &s1, &s2);
        double c = o + top;
        f += s2 - 2.0 * c * s1 + c * c * m;
        f += scratch[b] - scratch[a];
        if (f < bf) {
            bf = f;
            bo = o;
        }
    }
    *best_o = bo;
    *best_loss = bf * s * s;
}

// Candidate scale i of a grid of T steps: s0 * i / T (one definition for every code path).
ZP_HD double candidate_scale(double s0, int i, int grid)
{
    return s0 * static_cast<double>(i) / static_cast<double>(grid);
}

}  // namespace zp::kernels::detail
