// The CUDA kernels' per-thread body (kernels/cuda/device_solve.h: 32 bins per stage-2 level, 64
// gathered drops, local arrays; the small-group sweep for groups of at most 8) compiled as host
// code and run on the CPU against the references: the full sweep over every level change (the
// global optimum) and, for small groups, brute force. Groups of 2 to 11008 elements, 2, 3, 4 and
// 8 bits. Needs no GPU: this is how the device code is tested where there is none.
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/cuda/device_solve.h"
#include "kernels/quantize.h"
#include "kernels/zero_point.h"
#include "tests/common/test_util.h"

using namespace zp::kernels;

namespace {

// One group prepared as the CUDA path prepares it (zero_point.cpp sort_groups, then
// zero_point_cuda.cu prefix_kernel): sorted by w, h normalised to sum 1 in the same order, prefix
// sums of h, h w, h w^2.
struct HostGroup {
    std::vector<double> w, h, p0, p1, p2;
    detail::SortedGroup view() const
    {
        return detail::SortedGroup{w.data(),  h.data(),  p0.data(),
                                   p1.data(), p2.data(), static_cast<int>(w.size())};
    }
};

HostGroup prepare(const double* w, const double* h, int n)
{
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return w[a] < w[b]; });
    double sum = 0.0;
    for (int i = 0; i < n; ++i)
        sum += h[i];
    HostGroup g;
    g.w.resize(n);
    g.h.resize(n);
    g.p0.assign(n + 1, 0.0);
    g.p1.assign(n + 1, 0.0);
    g.p2.assign(n + 1, 0.0);
    for (int k = 0; k < n; ++k) {
        g.w[k] = w[idx[k]];
        g.h[k] = sum > 0.0 ? h[idx[k]] / sum : 1.0 / n;
        g.p0[k + 1] = g.p0[k] + g.h[k];
        g.p1[k + 1] = g.p1[k] + g.h[k] * g.w[k];
        g.p2[k + 1] = g.p2[k] + g.h[k] * g.w[k] * g.w[k];
    }
    return g;
}

// The loss of offset o at scale s, written here from core/MATHS.md section 3 (plain loop).
double loss_at(const HostGroup& g, double s, int levels, double o)
{
    double acc = 0.0;
    for (size_t i = 0; i < g.w.size(); ++i) {
        const double v = g.w[i] / s - o;
        const double q = std::min(std::max(std::nearbyint(v), 0.0), double(levels - 1));
        acc += g.h[i] * (v - q) * (v - q);
    }
    return s * s * acc;
}

}  // namespace

class TestDeviceSolve : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matches_references_data();
    void matches_references();
    void sweep_by_selection_matches_sorted_sweep();
    void clipping_bound_grows_as_scale_shrinks();
};

void TestDeviceSolve::matches_references_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    QTest::addColumn<int>("rows");
    struct Shape {
        int group, rows;
    };
    // Few rows for wide groups: the full sweep has n (N - 1) events per scale.
    const QList<Shape> shapes = {{2, 24}, {3, 24},  {5, 16},   {8, 16},   {9, 12},   {11, 8},
                                 {32, 6}, {128, 4}, {1024, 2}, {4096, 1}, {11008, 1}};
    // "ties": many equal weights, so crowded bins stay crowded at the deepest level and the
    // device's small event buffer falls back to the sweep by selection.
    for (const char* kind : {"gaussian", "laplace", "outlier", "constant", "ties"})
        for (int bits : {2, 3, 4, 8})
            for (const Shape& sh : shapes) {
                if (QString(kind) == "constant" && sh.group > 128)
                    continue;
                if (bits == 8 && sh.group == 11008 && QString(kind) != "outlier")
                    continue;  // 2.8 million events per scale: one kind is enough
                QTest::newRow(qPrintable(QString("%1/%2bit/g%3").arg(kind).arg(bits).arg(sh.group)))
                    << QString(kind) << bits << sh.group << sh.rows;
            }
}

void TestDeviceSolve::matches_references()
{
    QFETCH(QString, kind);
    QFETCH(int, bits);
    QFETCH(int, group);
    QFETCH(int, rows);
    const int levels = 1 << bits;
    const int64_t cols = group >= 1024 ? group : int64_t(group) * 3;
    at::Tensor w = zp::test::make_weights(kind.toStdString(), rows, cols, 500 + bits * 13 + group);
    at::manual_seed(91 + group);
    at::Tensor h = at::rand({cols}, at::kDouble) * 3.0 + 0.05;
    // Candidate scales: fractions of each group's Min-Max scale, the range the search visits.
    at::Tensor s0, z0;
    minmax_params(w, bits, group, 1.0, &s0, &z0);
    const std::vector<double> fractions = group >= 4096
                                              ? std::vector<double>{0.55, 1.0}
                                              : std::vector<double>{0.3, 0.55, 0.71875, 0.875, 1.0};
    at::Tensor scales =
        s0.to(at::kDouble).unsqueeze(2) * at::tensor(fractions, at::kDouble).view({1, 1, -1});
    ZeroPointSolve sweep = solve_zero_point(w, h, scales, bits, group, ZeroPointSolver::FullSweep);
    ZeroPointSolve brute;
    if (group <= detail::kSmallGroupMax)
        brute = solve_zero_point(w, h, scales, bits, group, ZeroPointSolver::BruteForce, 20001);

    const int64_t groups = cols / group, C = scales.size(2);
    const at::Tensor wc = w.contiguous(), sc = scales.contiguous();
    const at::Tensor sl = sweep.loss.contiguous();
    const double* wp = wc.data_ptr<double>();
    const double* hp = h.data_ptr<double>();
    const double* sp = sc.data_ptr<double>();
    const double* ref = sl.data_ptr<double>();
    double worst = 0.0, worst_direct = 0.0, worst_brute = 0.0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < groups; ++j) {
            HostGroup g = prepare(wp + r * cols + j * group, hp + j * group, group);
            const detail::SortedGroup view = g.view();
            for (int64_t c = 0; c < C; ++c) {
                const int64_t k = (r * groups + j) * C + c;
                const double s = sp[k];
                const detail::ScaleSolve got = detail::device_solve_scale(view, s, levels);
                QVERIFY2(!got.pruned && std::isfinite(got.loss),
                         qPrintable(
                             QString("row %1 group %2 scale %3: no result").arg(r).arg(j).arg(c)));
                // Tolerance as tst_zero_point: relative 1e-8 plus 1e-4 of the loss unit s^2 for
                // groups fitted exactly (loss 0).
                const double floor_ = 1e-4 * s * s;
                worst = std::max(worst, std::abs(got.loss - ref[k]) / (ref[k] + floor_));
                // The reported loss is the loss of the reported offset.
                const double direct = loss_at(g, s, levels, got.o);
                worst_direct =
                    std::max(worst_direct, std::abs(direct - got.loss) / (direct + floor_));
                if (brute.loss.defined()) {
                    const double b = brute.loss.data_ptr<double>()[k];
                    worst_brute = std::max(worst_brute, (got.loss - b) / (got.loss + floor_));
                }
            }
        }
    // Constant groups (loss 0) at 8 bits, and groups of a few distinct values that fit the grid
    // exactly ("ties": 1e-19 against 1e-33): the offset is the sweep's, but the loss the
    // two-stage solve reports from its running sums, B2 - B1^2, keeps up to 1e-10 s^2 of
    // cancellation (the CPU's two-stage solve reports the same); far below a rounding step's
    // loss, s^2 / 12.
    const double tolerance = kind == "constant" || kind == "ties" ? 1e-5 : 1e-8;
    QVERIFY2(
        worst < tolerance,
        qPrintable(QString("device solve vs full sweep: max relative difference %1").arg(worst)));
    QVERIFY2(worst_direct < tolerance,
             qPrintable(QString("reported loss vs direct evaluation: %1").arg(worst_direct)));
    QVERIFY2(worst_brute < 1e-8,
             qPrintable(QString("brute force found a lower loss (relative %1)").arg(worst_brute)));
}

// The device's last resort, the sweep by selection (a bin still crowded at the deepest level:
// many equal weights), against the sorted sweep over the same drops and against a dense grid of
// the loss written above. The search reaches it only when the optimum lies within 2 / 32^4 of a
// crowded drop (no row of matches_references does), so it is driven here directly, over whole
// windows of a group of few distinct values.
void TestDeviceSolve::sweep_by_selection_matches_sorted_sweep()
{
    int windows = 0;
    for (int bits : {2, 3, 4}) {
        const int levels = 1 << bits, n = 256;
        const at::Tensor w = zp::test::make_weights("ties", 1, n, 40 + bits);
        at::manual_seed(17 + bits);
        const at::Tensor h = at::rand({n}, at::kDouble) * 3.0 + 0.05;
        const HostGroup g = prepare(w.data_ptr<double>(), h.data_ptr<double>(), n);
        const detail::SortedGroup view = g.view();
        const double s = 0.7 * (g.w.back() - g.w.front()) / (levels - 1), inv_s = 1.0 / s;
        for (double shift : {-1.5, -1.0, -0.6, -0.25, 0.4}) {
            detail::Stage2Context c;
            c.g = &view;
            c.inv_s = inv_s;
            c.levels = levels;
            c.l = g.w.front() * inv_s + shift;
            c.r = c.l + 2.0;
            c.ia = detail::count_lt(view, inv_s, c.l + 0.5);
            c.ib = std::max(c.ia, detail::count_lt(view, inv_s, c.l + levels + 0.5));
            c.bound = INFINITY;
            c.found = false;
            c.best_f = INFINITY;
            c.best_o = c.l;
            // (B1, B2) at o = l: f(o) = sum h (x - q - o)^2 = o^2 - 2 B1 o + B2, q each
            // element's level there.
            double b1 = 0.0, b2 = 0.0;
            std::vector<detail::DropEvent> events;
            for (int i = 0; i < n; ++i) {
                const double x = g.w[i] * inv_s;
                double q = std::nearbyint(x - c.l);
                q = std::min(std::max(q, 0.0), double(levels - 1));
                if (i >= c.ia && i < c.ib) {
                    double tau[2], rho = 0.0;
                    const int cnt = detail::element_drops(c, i, tau, &rho);
                    QVERIFY(std::abs(rho - (x - q)) < 1e-9);  // the kernel's level at o = l
                    for (int d = 0; d < cnt; ++d)
                        events.push_back({tau[d], g.h[i]});
                }
                b1 += g.h[i] * (x - q);
                b2 += g.h[i] * (x - q) * (x - q);
            }
            detail::Stage2Context sorted = c;
            // Level -1: no enclosing bins, so every drop of the window belongs.
            detail::sweep_by_selection(c, -1, 1, c.l, c.r, b1, b2);
            detail::sort_events(events.data(), static_cast<int>(events.size()));
            detail::sweep_sorted(sorted, events.data(), static_cast<int>(events.size()), sorted.l,
                                 sorted.r, b1, b2);
            QVERIFY(c.found && sorted.found);
            QVERIFY2(std::abs(c.best_f - sorted.best_f) <= 1e-12 * (1.0 + sorted.best_f),
                     qPrintable(QString("bits %1 shift %2: selection %3, sorted %4")
                                    .arg(bits)
                                    .arg(shift)
                                    .arg(c.best_f, 0, 'g', 17)
                                    .arg(sorted.best_f, 0, 'g', 17)));
            QVERIFY(std::abs(c.best_o - sorted.best_o) <= 1e-12 * (1.0 + std::abs(sorted.best_o)));
            // Independent: the loss at the reported offset, and no grid point below it.
            const double direct = loss_at(g, s, levels, c.best_o) / (s * s);
            QVERIFY2(std::abs(direct - c.best_f) <= 1e-9 * (1.0 + direct),
                     qPrintable(QString("reported %1, direct %2").arg(c.best_f).arg(direct)));
            double grid_min = INFINITY;
            for (int k = 0; k <= 20000; ++k)
                grid_min =
                    std::min(grid_min, loss_at(g, s, levels, c.l + 2.0 * k / 20000) / (s * s));
            QVERIFY2(grid_min >= c.best_f - 1e-9,
                     qPrintable(QString("grid %1 below %2").arg(grid_min).arg(c.best_f)));
            // Ties: the window's drops come in runs at equal positions.
            std::vector<double> taus;
            for (const auto& e : events)
                taus.push_back(e.tau);
            QVERIFY(std::unique(taus.begin(), taus.end()) - taus.begin() < long(taus.size()) / 4);
            ++windows;
        }
    }
    QCOMPARE(windows, 15);
}

QTEST_APPLESS_MAIN(TestDeviceSolve)
// The CPU searches walk the scales from the largest down and stop at the first whose clipping
// bound (min over o of the loss of clipping alone) exceeds the best loss: that is exact only if
// the bound never decreases as s shrinks (a shorter grid clips at least as much). Checked on every
// scale of a 2048 grid, and each bound against a dense scan of o written here.
void TestDeviceSolve::clipping_bound_grows_as_scale_shrinks()
{
    for (const char* kind : {"gaussian", "outlier", "ties"})
        for (int bits : {2, 3, 8})
            for (int n : {11, 64, 300}) {
                const at::Tensor w =
                    zp::test::make_weights(kind, 1, n, 7 + bits + n).to(at::kDouble).contiguous();
                const at::Tensor h = at::rand({n}, at::TensorOptions().dtype(at::kDouble));
                const HostGroup g = prepare(w.data_ptr<double>(), h.data_ptr<double>(), n);
                const int levels = 1 << bits, grid = 2048;
                const double range = g.w.back() - g.w.front();
                if (!(range > 0.0))
                    continue;
                const double s0 = range / (levels - 1);
                const detail::SortedGroup view = g.view();
                double prev = -HUGE_VAL;
                // rounding: the bound is a difference of sums of size (w / s)^2, times s^2
                const double tol = 1e-13 * range * range * levels * levels;
                int hints[2] = {-1, -1};
                for (int i = grid; i >= 1; --i) {
                    const double s = detail::candidate_scale(s0, i, grid);
                    const double lb = detail::clipping_lower_bound(view, s, levels, hints);
                    const QString where =
                        QString("%1/%2bit/n%3 scale %4: ").arg(kind).arg(bits).arg(n).arg(i);
                    QVERIFY2(lb >= prev - 1e-12 * std::fabs(prev) - tol,
                             qPrintable(where + QString("bound %1 below the larger scale's %2")
                                                    .arg(lb, 0, 'g', 17)
                                                    .arg(prev, 0, 'g', 17)));
                    prev = lb;
                    if (i % 97 != 0)
                        continue;
                    // Clipping alone at offset o: elements below o or above o + N - 1. A coarse
                    // scan of o, then a fine one around its best point.
                    auto clip = [&](double o) {
                        double acc = 0.0;
                        for (int k = 0; k < n; ++k) {
                            const double x = g.w[k] / s;
                            const double e =
                                x < o ? x - o : (x > o + levels - 1 ? x - o - (levels - 1) : 0.0);
                            acc += g.h[k] * e * e;
                        }
                        return s * s * acc;
                    };
                    double best = HUGE_VAL, at = 0.0;
                    const double lo = g.w.front() / s - levels, hi = g.w.back() / s + 1.0;
                    const double step = (hi - lo) / 4000.0;
                    for (int t = 0; t <= 4000; ++t)
                        if (clip(lo + step * t) < best) {
                            best = clip(lo + step * t);
                            at = lo + step * t;
                        }
                    for (int t = -2000; t <= 2000; ++t)
                        best = std::min(best, clip(at + step * t / 1000.0));
                    QVERIFY2(lb <= best * (1.0 + 1e-9) + 1e-300,
                             qPrintable(where + QString("bound %1 above the scan's %2")
                                                    .arg(lb, 0, 'g', 17)
                                                    .arg(best, 0, 'g', 17)));
                    QVERIFY2(best - lb <= 1e-3 * best + 1e-12 * s * s,
                             qPrintable(where + QString("bound %1 far below the scan's %2")
                                                    .arg(lb, 0, 'g', 17)
                                                    .arg(best, 0, 'g', 17)));
                }
            }
}

#include "tst_device_solve.moc"
