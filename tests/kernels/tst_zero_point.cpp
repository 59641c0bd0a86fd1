// The NeUQI zero-point solver against its references: two-stage == full sweep == brute force
// (groups of at most 8 are swept exactly on the CPU: sweep == brute force there), and the search's
// guarantees (never worse than Min-Max, coarse-to-fine close to the full grid), its reported losses
// against a scalar reference written apart from the kernels.
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/quantize.h"
#include "kernels/zero_point.h"
#include "tests/common/test_util.h"

using namespace zp::kernels;

namespace {

// Candidate scales per group: fractions of the group's Min-Max scale, the range the search visits.
at::Tensor scale_candidates(const at::Tensor& w, int bits, int64_t g,
                            const std::vector<double>& fractions)
{
    at::Tensor s0, z0;
    minmax_params(w, bits, g, 1.0, &s0, &z0);
    at::Tensor f = at::tensor(fractions, at::kDouble);
    return s0.to(at::kDouble).unsqueeze(2) * f.view({1, 1, -1});
}

at::Tensor importance(int64_t cols, const QString& kind, uint64_t seed)
{
    at::Tensor h = at::ones({cols}, at::kDouble);
    if (kind == "random") {
        at::manual_seed(seed);
        h = at::rand({cols}, at::kDouble) * 3.0 + 0.05;
    } else if (kind == "zeros") {
        at::manual_seed(seed);
        h = at::rand({cols}, at::kDouble);
        h.masked_fill_(at::rand({cols}, at::kDouble) < 0.3,
                       0.0);  // a third of the columns do not matter
    }
    return h;
}

// The values of a tensor, in T.
template <typename T>
std::vector<T> values(const at::Tensor& t)
{
    const at::Tensor c = t.cpu().to(c10::CppTypeToScalarType<T>::value).contiguous();
    return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// Scalar references written from core/MATHS.md sections 1-2, apart from the kernels (plain
// loops over vectors, like ggml's *_ref functions). The arithmetic runs in T, the dtype of the
// weights and of the stored parameters. w: [rows, cols] row-major, h: [cols], parameters: [rows, G]
// with G = ceil(cols / g): group j is columns j*g .. min((j+1)*g, cols) - 1, so when g does not
// divide cols the last group is shorter (GPTQ's rule: group = column / g).

// Min-Max: s = (max - min) / (N - 1), z = round(-min / s); a constant group gets s = 1 and
// z = round(-min).
template <typename T>
void minmax_ref(const std::vector<T>& w, int64_t cols, int64_t g, int bits, std::vector<T>* s,
                std::vector<T>* z)
{
    const int64_t rows = static_cast<int64_t>(w.size()) / cols, groups = (cols + g - 1) / g;
    s->assign(rows * groups, T(0));
    z->assign(rows * groups, T(0));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < groups; ++j) {
            const int64_t n = j + 1 < groups ? g : cols - j * g;  // the last group may be short
            T lo = w[r * cols + j * g], hi = lo;
            for (int64_t i = 1; i < n; ++i) {
                lo = std::min(lo, w[r * cols + j * g + i]);
                hi = std::max(hi, w[r * cols + j * g + i]);
            }
            const T scale = hi > lo ? (hi - lo) / T((1 << bits) - 1) : T(1);
            (*s)[r * groups + j] = scale;
            (*z)[r * groups + j] = std::nearbyint(-lo / scale);  // half to even in the default mode
        }
}

// Per (row, group): sum_i h_i (Q(w_i) - w_i)^2 with h normalised to sum 1 in the group (uniform
// where it sums to 0), code = clamp(round(w/s + z), 0, N-1) (half to even), Q = s (code - z).
template <typename T>
std::vector<double> group_loss_ref(const std::vector<T>& w, const std::vector<double>& h, int64_t g,
                                   const std::vector<T>& s, const std::vector<T>& z, int bits)
{
    const int64_t cols = static_cast<int64_t>(h.size()),
                  rows = static_cast<int64_t>(w.size()) / cols;
    const int64_t groups = (cols + g - 1) / g;
    const T top = T((1 << bits) - 1);
    std::vector<double> loss(rows * groups, 0.0);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < groups; ++j) {
            const T sc = s[r * groups + j], zc = z[r * groups + j];
            const int64_t end = std::min((j + 1) * g, cols), n = end - j * g;
            double mass = 0.0;
            for (int64_t i = j * g; i < end; ++i)
                mass += h[i];
            double acc = 0.0;
            for (int64_t i = j * g; i < end; ++i) {
                const T x = w[r * cols + i];
                const T code = std::min(std::max(std::nearbyint(x / sc + zc), T(0)), top);
                const double e = static_cast<double>(sc * (code - zc)) - static_cast<double>(x);
                acc += (mass > 0.0 ? h[i] / mass : 1.0 / static_cast<double>(n)) * e * e;
            }
            loss[r * groups + j] = acc;
        }
    return loss;
}

// Largest |a - b| / (|b| + floor) over two equally long sequences.
double max_relative_difference(const at::Tensor& a, const std::vector<double>& b, double floor)
{
    const std::vector<double> av = values<double>(a);
    double worst = av.size() == b.size() ? 0.0 : INFINITY;
    for (size_t k = 0; k < av.size() && k < b.size(); ++k)
        worst = std::max(worst, std::abs(av[k] - b[k]) / (std::abs(b[k]) + floor));
    return worst;
}

// The exact solve (loss at each candidate scale) against the direct evaluation of its own
// zero-point and against a dense brute-force grid on the first rows.
void check_exact_solve(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scales, int bits,
                       int group, const ZeroPointSolve& solve)
{
    // The reported loss is the loss of the reported zero-point, evaluated directly.
    const int64_t C = scales.size(2), rows = w.size(0);
    for (int64_t c = 0; c < C; ++c) {
        at::Tensor s = scales.select(2, c).contiguous();
        at::Tensor z = solve.zero.select(2, c).contiguous();
        at::Tensor direct = group_loss(w, h, s, z, bits, group, true);
        double d = ((direct - solve.loss.select(2, c)).abs() / (direct + 1e-4 * s * s))
                       .max()
                       .item<double>();
        QVERIFY2(d < 1e-8, qPrintable(QString("reported loss vs direct evaluation: %1").arg(d)));
    }

    // Brute force on a dense grid never finds anything lower, and comes close.
    const int64_t points = group <= 128 ? 40001 : (group <= 1024 ? 8001 : 1501);
    at::Tensor sub = scales.narrow(0, 0, std::min<int64_t>(rows, 2)).contiguous();
    ZeroPointSolve brute = solve_zero_point(w.narrow(0, 0, sub.size(0)), h, sub, bits, group,
                                            ZeroPointSolver::BruteForce, points);
    at::Tensor fs = solve.loss.narrow(0, 0, sub.size(0));
    at::Tensor floor_ = 1e-4 * sub * sub;
    double below = ((fs - brute.loss) / (fs + floor_)).max().item<double>();
    QVERIFY2(below < 1e-8,
             qPrintable(QString("brute force found a lower loss (relative %1)").arg(below)));
    double gap = ((brute.loss - fs) / (fs + floor_)).max().item<double>();
    QVERIFY2(
        gap < (group <= 128 ? 0.02 : 0.1),
        qPrintable(QString("brute force grid minimum %1 relative above the exact one").arg(gap)));
}

// min over a dense grid of offsets o of f(o) = sum_i hn_i (x_i - o - clamp(round(x_i - o)))^2,
// x = w / s, times s^2: an upper bound on the exact optimum at this scale, within the grid step.
double brute_zero_loss(const std::vector<double>& w, const std::vector<double>& hn, double s,
                       int bits, int points)
{
    const double top = (1 << bits) - 1;
    double lo = INFINITY, hi = -INFINITY;
    for (double v : w) {
        lo = std::min(lo, v / s);
        hi = std::max(hi, v / s);
    }
    lo -= top + 0.5;
    hi += 0.5;
    double best = INFINITY;
    for (int k = 0; k < points; ++k) {
        const double o = lo + (hi - lo) * k / (points - 1);
        double f = 0.0;
        for (size_t i = 0; i < w.size(); ++i) {
            const double v = w[i] / s - o;
            const double e = v - std::min(std::max(std::nearbyint(v), 0.0), top);
            f += hn[i] * e * e;
        }
        best = std::min(best, f);
    }
    return s * s * best;
}

// sum_i hn_i (Q(w_i) - w_i)^2 for one group with parameters (s, z), in double.
double scalar_loss(const std::vector<double>& w, const std::vector<double>& hn, double s, double z,
                   int bits)
{
    const double top = (1 << bits) - 1;
    double acc = 0.0;
    for (size_t i = 0; i < w.size(); ++i) {
        const double code = std::min(std::max(std::nearbyint(w[i] / s + z), 0.0), top);
        const double e = s * (code - z) - w[i];
        acc += hn[i] * e * e;
    }
    return acc;
}

}  // namespace

class TestZeroPoint : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void two_stage_matches_references_data();
    void two_stage_matches_references();
    void small_groups_match_brute_force_data();
    void small_groups_match_brute_force();
    void float32_path_matches_float64_data();
    void float32_path_matches_float64();
    void search_never_worse_than_minmax_data();
    void search_never_worse_than_minmax();
    void coarse_to_fine_close_to_full_grid_data();
    void coarse_to_fine_close_to_full_grid();
    void int_search_matches_enumeration_data();
    void int_search_matches_enumeration();
    void partial_last_group_matches_scalar_reference_data();
    void partial_last_group_matches_scalar_reference();
    void tensor_ops_baseline_agrees_data();
    void tensor_ops_baseline_agrees();
    void constant_groups_are_exact();
    void bad_input_is_rejected();
    void cpu_matches_cuda();
};

void TestZeroPoint::two_stage_matches_references_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("importance");
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    QTest::addColumn<int>("rows");
    const QStringList kinds = {"gaussian", "laplace", "outlier"};
    const QList<int> bits_list = {2, 3, 4, 8};
    struct Shape {
        int group, rows;
    };
    // Groups of at most 8 elements never reach the two-stage solve on the CPU (it sends them to the
    // exact sweep, kExactSweepMaxGroup in kernels/cpu/zero_point_cpu.cpp): rows for them would
    // compare the sweep with itself. small_groups_match_brute_force checks that sweep. (The
    // two-stage solve called directly on groups of 2 and 3 is not exact: up to 0.4% above the
    // sweep at 8 bits.)
    const QList<Shape> shapes = {{11, 8}, {32, 6}, {128, 4}, {1024, 2}, {4096, 1}, {11008, 1}};
    for (const QString& kind : kinds)
        for (int bits : bits_list)
            for (const Shape& sh : shapes) {
                if (bits == 8 && sh.group > 4096)
                    continue;  // the full sweep has n * 255 events per scale: kept to the other
                               // widths
                QString imp = sh.group % 2 == 0 ? "random" : "zeros";
                QTest::newRow(qPrintable(
                    QString("%1/%2bit/g%3/%4").arg(kind).arg(bits).arg(sh.group).arg(imp)))
                    << kind << imp << bits << sh.group << sh.rows;
            }
}

void TestZeroPoint::two_stage_matches_references()
{
    QFETCH(QString, kind);
    QFETCH(QString, importance);
    QFETCH(int, bits);
    QFETCH(int, group);
    QFETCH(int, rows);
    const int64_t cols = group >= 1024 ? group : group * 4;
    at::Tensor w = zp::test::make_weights(kind.toStdString(), rows, cols, 1000 + bits * 7 + group);
    at::Tensor h = ::importance(cols, importance, 77 + group);
    at::Tensor scales = scale_candidates(w, bits, group, {0.3, 0.55, 0.71875, 0.875, 1.0});
    ZeroPointSolve fast = solve_zero_point(w, h, scales, bits, group, ZeroPointSolver::TwoStage);
    ZeroPointSolve sweep = solve_zero_point(w, h, scales, bits, group, ZeroPointSolver::FullSweep);
    // Exact agreement with the full sweep (the global optimum).
    // Tolerance: relative 1e-8, plus 1e-12 of the loss unit s^2 for groups fitted exactly (loss 0).
    at::Tensor unit = scales * scales;
    at::Tensor rel = (fast.loss - sweep.loss).abs() / (sweep.loss + 1e-4 * unit);
    double max_rel = rel.max().item<double>();
    QVERIFY2(
        max_rel < 1e-8,
        qPrintable(QString("two-stage vs full sweep: max relative difference %1").arg(max_rel)));
    check_exact_solve(w, h, scales, bits, group, fast);
}

void TestZeroPoint::small_groups_match_brute_force_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    QTest::addColumn<int>("rows");
    for (const char* kind : {"gaussian", "laplace", "outlier"})
        for (int bits : {2, 3, 4, 8})
            for (int group : {2, 3, 8})
                QTest::newRow(qPrintable(QString("%1/%2bit/g%3").arg(kind).arg(bits).arg(group)))
                    << QString(kind) << bits << group << (group == 8 ? 12 : 24);
}

// Groups of at most 8 elements: what solve_zero_point (and the search) computes there is the exact
// sweep, checked against brute force.
void TestZeroPoint::small_groups_match_brute_force()
{
    QFETCH(QString, kind);
    QFETCH(int, bits);
    QFETCH(int, group);
    QFETCH(int, rows);
    const int64_t cols = group * 4;
    at::Tensor w = zp::test::make_weights(kind.toStdString(), rows, cols, 1000 + bits * 7 + group);
    at::Tensor h = ::importance(cols, group % 2 == 0 ? "random" : "zeros", 77 + group);
    at::Tensor scales = scale_candidates(w, bits, group, {0.3, 0.55, 0.71875, 0.875, 1.0});
    check_exact_solve(w, h, scales, bits, group, solve_zero_point(w, h, scales, bits, group));
}

void TestZeroPoint::float32_path_matches_float64_data()
{
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("cols");
    for (int bits : {2, 3, 4})
        for (int cols : {4096, 11008, 14336})
            QTest::newRow(qPrintable(QString("%1bit/%2").arg(bits).arg(cols))) << bits << cols;
}

void TestZeroPoint::float32_path_matches_float64()
{
    QFETCH(int, bits);
    QFETCH(int, cols);
    // Wide channel-wise rows with a large common offset: B2 - B1^2 cancels badly in float32.
    at::Tensor w64 = zp::test::make_weights("outlier", 4, cols, 4242 + cols) + 0.05;
    at::Tensor w32 = w64.to(at::kFloat);
    w64 = w32.to(at::kDouble);  // the same numbers in both paths
    at::Tensor h = ::importance(cols, "random", 9);
    at::Tensor scales = scale_candidates(w64, bits, -1, {0.5, 0.8, 1.0});
    ZeroPointSolve a = solve_zero_point(w32, h.to(at::kFloat), scales, bits, -1);
    ZeroPointSolve ref = solve_zero_point(w64, h, scales, bits, -1, ZeroPointSolver::FullSweep);
    double rel = ((a.loss - ref.loss).abs() / ref.loss).max().item<double>();
    QVERIFY2(rel < 1e-7, qPrintable(QString("float32 vs float64 reference: %1").arg(rel)));
    SearchConfig cfg;
    cfg.bits = bits;
    SearchResult s32 = neuqi_search(w32, h.to(at::kFloat), cfg);
    SearchResult s64 = neuqi_search(w64, h, cfg);
    double rel2 = ((s32.loss - s64.loss).abs() / s64.loss).max().item<double>();
    QVERIFY2(rel2 < 1e-5, qPrintable(QString("search float32 vs float64: %1").arg(rel2)));
}

void TestZeroPoint::search_never_worse_than_minmax_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    for (const char* kind : {"gaussian", "laplace", "outlier", "constant"})
        for (int bits : {2, 3, 4, 8})
            for (int group : {-1, 32, 128, 96})  // 96: 512 = 5 x 96 + a last group of 32
                QTest::newRow(qPrintable(QString("%1/%2bit/g%3").arg(kind).arg(bits).arg(group)))
                    << QString(kind) << bits << group;
}

void TestZeroPoint::search_never_worse_than_minmax()
{
    QFETCH(QString, kind);
    QFETCH(int, bits);
    QFETCH(int, group);
    at::Tensor w = zp::test::make_weights(kind.toStdString(), 16, 512, 31 + bits).to(at::kFloat);
    at::Tensor h = ::importance(512, "zeros", 5);
    SearchConfig cfg;
    cfg.bits = bits;
    cfg.group_size = group;
    SearchResult r = neuqi_search(w, h, cfg);
    // The reported figures are what the stored parameters give, and what Min-Max gives, by the
    // scalar references (float32 like the weights, up to the order of the float64 sums).
    const std::vector<float> wv = values<float>(w);
    const std::vector<double> hv = values<double>(h);
    const int64_t g = group < 0 ? 512 : group;
    const std::vector<double> loss_ref =
        group_loss_ref(wv, hv, g, values<float>(r.scale), values<float>(r.zero), bits);
    const double floor_ = 1e-30;
    double rel = max_relative_difference(r.loss, loss_ref, floor_);
    QVERIFY2(rel < 1e-12, qPrintable(QString("reported loss vs scalar reference: %1").arg(rel)));
    std::vector<float> s_mm, z_mm;
    minmax_ref(wv, 512, g, bits, &s_mm, &z_mm);
    const std::vector<double> mm_ref = group_loss_ref(wv, hv, g, s_mm, z_mm, bits);
    rel = max_relative_difference(r.minmax_loss, mm_ref, floor_);
    QVERIFY2(rel < 1e-12,
             qPrintable(QString("reported Min-Max loss vs scalar reference: %1").arg(rel)));
    for (size_t k = 0; k < loss_ref.size(); ++k)
        QVERIFY2(loss_ref[k] <= mm_ref[k],
                 qPrintable(QString("NeUQI loss above Min-Max on group %1").arg(k)));
    QVERIFY2((r.loss <= r.minmax_loss).all().item<bool>(),
             "NeUQI loss above Min-Max on some group");
    SearchResult ri = neuqi_int_search(w, h, bits, group, 256);
    QVERIFY2((ri.loss <= ri.minmax_loss).all().item<bool>(),
             "NeUQI-int loss above Min-Max on some group");
    // Real-valued zero-points can only help: NeUQI (float z) <= NeUQI-int on the same grid, up to
    // the coarse-to-fine approximation, in aggregate.
    if (kind != "constant")
        QVERIFY(r.loss.sum().item<double>() <= ri.loss.sum().item<double>() * 1.01);
    else  // exact up to float32 rounding of the stored zero-point (double:
          // constant_groups_are_exact)
        QVERIFY2(r.loss.max().item<double>() < 1e-4 * (w * w).mean().item<double>(),
                 "a constant group must be reproduced (up to float32 rounding)");
}

void TestZeroPoint::coarse_to_fine_close_to_full_grid_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    for (const char* kind : {"gaussian", "laplace", "outlier"})
        for (int bits : {2, 3, 4})
            for (int group : {-1, 128})
                QTest::newRow(qPrintable(QString("%1/%2bit/g%3").arg(kind).arg(bits).arg(group)))
                    << QString(kind) << bits << group;
}

void TestZeroPoint::coarse_to_fine_close_to_full_grid()
{
    QFETCH(QString, kind);
    QFETCH(int, bits);
    QFETCH(int, group);
    at::Tensor w = zp::test::make_weights(kind.toStdString(), 8, 1024, 99 + bits).to(at::kFloat);
    at::Tensor h = ::importance(1024, "random", 3);
    SearchConfig cfg;
    cfg.bits = bits;
    cfg.group_size = group;
    SearchResult fast = neuqi_search(w, h, cfg);
    cfg.full_grid = true;
    SearchResult full = neuqi_search(w, h, cfg);
    // Stated tolerance: the coarse-to-fine total loss is within 0.5% of the exhaustive grid's (the
    // paper reports 0.2% on a real layer).
    double ratio = fast.loss.sum().item<double>() / full.loss.sum().item<double>();
    QVERIFY2(ratio <= 1.005, qPrintable(QString("coarse-to-fine / full grid = %1").arg(ratio)));
    QVERIFY2(ratio >= 0.999,
             qPrintable(QString("coarse-to-fine below the full grid by too much: %1").arg(ratio)));
}

void TestZeroPoint::int_search_matches_enumeration_data()
{
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    for (int bits : {2, 3, 4, 8})
        for (int group : {16, 64})
            QTest::newRow(qPrintable(QString("%1bit/g%2").arg(bits).arg(group))) << bits << group;
}

void TestZeroPoint::int_search_matches_enumeration()
{
    QFETCH(int, bits);
    QFETCH(int, group);
    const int grid = 64;
    at::Tensor w = zp::test::make_weights("laplace", 3, group * 2, 5 + bits);
    at::Tensor h = ::importance(group * 2, "random", 11);
    SearchResult r = neuqi_int_search(w, h, bits, group, grid);
    // Enumerate every (scale, integer zero) with the direct evaluator.
    at::Tensor s0, z0;
    minmax_params(w, bits, group, 1.0, &s0, &z0);
    at::Tensor best =
        group_loss(w, h, s0, z0, bits, group, true);  // the Min-Max point is a candidate
    for (int i = 1; i <= grid; ++i) {
        at::Tensor s = s0 * (static_cast<double>(i) / grid);
        for (int z = 0; z < (1 << bits); ++z) {
            at::Tensor zt = at::full_like(s0, static_cast<double>(z));
            best = at::minimum(best, group_loss(w, h, s, zt, bits, group, true));
        }
    }
    double rel = ((r.loss - best).abs() / best.clamp_min(1e-300)).max().item<double>();
    QVERIFY2(rel < 1e-9, qPrintable(QString("NeUQI-int vs enumeration: %1").arg(rel)));
}

// A row whose group size does not divide it: ceil(cols / g) groups, the last one shorter, with its
// own Min-Max range and its importance normalised over its own columns. Checked element by element
// against scalar references written here: Min-Max parameters and codes (exact), NeUQI over the full
// grid of T = 64 scales (not above the best of a dense brute-force zero-point at each scale, and
// within that grid's resolution of it), NeUQI-int against enumerating every (scale, integer z).
void TestZeroPoint::partial_last_group_matches_scalar_reference_data()
{
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("group");
    QTest::addColumn<int>("bits");
    const int shapes[][2] = {{172, 64}, {576, 128}, {100, 32}, {130, 64}};
    for (const auto& sh : shapes)
        for (int bits : {2, 3, 4})
            QTest::newRow(qPrintable(QString("%1=%2x%3+%4/%5bit")
                                         .arg(sh[0])
                                         .arg(sh[0] / sh[1])
                                         .arg(sh[1])
                                         .arg(sh[0] % sh[1])
                                         .arg(bits)))
                << sh[0] << sh[1] << bits;
}

void TestZeroPoint::partial_last_group_matches_scalar_reference()
{
    QFETCH(int, cols);
    QFETCH(int, group);
    QFETCH(int, bits);
    const int64_t rows = 3, g = group, groups = (cols + g - 1) / g;
    const int grid = 64;
    const at::Tensor w = zp::test::make_weights("laplace", rows, cols, 40 + bits).to(at::kDouble);
    const at::Tensor h = ::importance(cols, "zeros", 9);
    const std::vector<double> wv = values<double>(w), hv = values<double>(h);

    // Min-Max: the kernel's parameters and codes are the scalar reference's, bit for bit.
    at::Tensor s_mm, z_mm;
    minmax_params(w, bits, g, 1.0, &s_mm, &z_mm);
    QCOMPARE(s_mm.sizes().vec(), std::vector<int64_t>({rows, groups}));
    std::vector<double> s_ref, z_ref;
    minmax_ref(wv, cols, g, bits, &s_ref, &z_ref);
    QVERIFY2(values<double>(s_mm) == s_ref && values<double>(z_mm) == z_ref,
             "Min-Max parameters differ from the scalar reference");
    const std::vector<uint8_t> codes = values<uint8_t>(quantize(w, s_mm, z_mm, bits, g));
    const double top = (1 << bits) - 1;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const int64_t k = r * groups + c / g;
            const double want = std::min(
                std::max(std::nearbyint(wv[r * cols + c] / s_ref[k] + z_ref[k]), 0.0), top);
            QVERIFY2(codes[r * cols + c] == static_cast<uint8_t>(want),
                     qPrintable(QString("code of row %1 column %2").arg(r).arg(c)));
        }
    const std::vector<double> mm_loss = group_loss_ref(wv, hv, g, s_ref, z_ref, bits);
    QVERIFY(max_relative_difference(group_loss(w, h, s_mm, z_mm, bits, g, true), mm_loss, 1e-30) <
            1e-12);

    SearchConfig cfg;
    cfg.bits = bits;
    cfg.group_size = g;
    cfg.grid = grid;
    cfg.full_grid = true;
    const SearchResult r = neuqi_search(w, h, cfg);
    const SearchResult ri = neuqi_int_search(w, h, bits, g, grid);
    QCOMPARE(r.scale.sizes().vec(), std::vector<int64_t>({rows, groups}));
    QCOMPARE(ri.scale.sizes().vec(), std::vector<int64_t>({rows, groups}));
    // The reported losses are those of the stored parameters, by the scalar evaluator.
    QVERIFY(max_relative_difference(
                r.loss,
                group_loss_ref(wv, hv, g, values<double>(r.scale), values<double>(r.zero), bits),
                1e-30) < 1e-12);
    QVERIFY(max_relative_difference(r.minmax_loss, mm_loss, 1e-30) < 1e-12);
    const std::vector<double> loss = values<double>(r.loss), loss_int = values<double>(ri.loss);
    for (int64_t row = 0; row < rows; ++row)
        for (int64_t j = 0; j < groups; ++j) {
            const int64_t c0 = j * g, n = std::min<int64_t>(g, cols - c0), k = row * groups + j;
            std::vector<double> wg(wv.begin() + row * cols + c0, wv.begin() + row * cols + c0 + n);
            std::vector<double> hn(hv.begin() + c0, hv.begin() + c0 + n);
            double mass = 0.0;
            for (double x : hn)
                mass += x;
            for (double& x : hn)
                x = mass > 0.0 ? x / mass : 1.0 / static_cast<double>(n);
            const double s0 = s_ref[k];
            double best = mm_loss[k], best_int = mm_loss[k];
            for (int i = 1; i <= grid; ++i) {
                const double s = s0 * i / grid;
                best = std::min(best, brute_zero_loss(wg, hn, s, bits, 4001));
                for (int z = 0; z <= (1 << bits) - 1; ++z)
                    best_int = std::min(best_int, scalar_loss(wg, hn, s, z, bits));
            }
            const QString where = QString("row %1 group %2 (%3 columns)").arg(row).arg(j).arg(n);
            // (Plus rounding noise on groups reproduced exactly: 2 columns at 2+ bits.)
            QVERIFY2(loss[k] <= best * (1.0 + 1e-9) + 1e-20 * s0 * s0,
                     qPrintable(where + QString(": NeUQI %1 above the brute-force reference %2")
                                            .arg(loss[k], 0, 'g', 12)
                                            .arg(best, 0, 'g', 12)));
            QVERIFY2(loss[k] >= best * 0.98 - 1e-4 * s0 * s0,
                     qPrintable(where + QString(": NeUQI %1 far below the brute-force reference %2")
                                            .arg(loss[k])
                                            .arg(best)));
            QVERIFY2(std::abs(loss_int[k] - best_int) <= 1e-9 * best_int + 1e-20 * s0 * s0,
                     qPrintable(where + QString(": NeUQI-int %1, enumeration %2")
                                            .arg(loss_int[k], 0, 'g', 12)
                                            .arg(best_int, 0, 'g', 12)));
        }
}

void TestZeroPoint::tensor_ops_baseline_agrees_data()
{
    QTest::addColumn<int>("bits");
    QTest::addColumn<int>("group");
    for (int bits : {2, 4})
        for (int group : {-1, 128, 200})  // 200: 512 = 2 x 200 + a last group of 112
            QTest::newRow(qPrintable(QString("%1bit/g%2").arg(bits).arg(group))) << bits << group;
}

void TestZeroPoint::tensor_ops_baseline_agrees()
{
    QFETCH(int, bits);
    QFETCH(int, group);
    at::Tensor w = zp::test::make_weights("outlier", 8, 512, 17).to(at::kFloat);
    at::Tensor h = ::importance(512, "random", 2);
    SearchConfig cfg;
    cfg.bits = bits;
    cfg.group_size = group;
    SearchResult a = neuqi_search(w, h, cfg);
    SearchResult b = neuqi_search_tensor_ops(w, h, cfg);
    at::Tensor relt = (a.loss - b.loss).abs() / b.loss.clamp_min(1e-300);
    double rel = relt.max().item<double>();
    if (rel >= 1e-5) {
        int64_t k = relt.argmax().item<int64_t>();
        int64_t G = a.loss.size(1);
        qWarning("group %ld: fast %.9g (i=%d) baseline %.9g (i=%d) minmax %.9g", (long)k,
                 a.loss.view(-1)[k].item<double>(), a.index.view(-1)[k].item<int>(),
                 b.loss.view(-1)[k].item<double>(), b.index.view(-1)[k].item<int>(),
                 a.minmax_loss.view(-1)[k].item<double>());
        (void)G;
    }
    QVERIFY2(rel < 1e-5, qPrintable(QString("fast search vs tensor-op baseline: %1").arg(rel)));
}

void TestZeroPoint::constant_groups_are_exact()
{
    at::Tensor w = at::full({3, 64}, 0.3, at::kDouble);
    w[1].fill_(-5.25);
    w[2].fill_(0.0);
    at::Tensor h = at::ones({64}, at::kDouble);
    SearchConfig cfg;
    cfg.bits = 2;
    cfg.group_size = 32;
    SearchResult r = neuqi_search(w, h, cfg);
    QVERIFY(r.loss.max().item<double>() < 1e-20);
    // Min-Max cannot reproduce 0.3 with s = 1 and an integer zero-point: the known weakness.
    QVERIFY(r.minmax_loss[0][0].item<double>() > 0.05);
}

void TestZeroPoint::bad_input_is_rejected()
{
    at::Tensor w = at::randn({4, 64}, at::kFloat);
    at::Tensor h = at::ones({64}, at::kFloat);
    SearchConfig cfg;
    cfg.bits = 9;
    QVERIFY_THROWS_EXCEPTION(c10::Error, neuqi_search(w, h, cfg));
    cfg.bits = 1;
    QVERIFY_THROWS_EXCEPTION(c10::Error, neuqi_search(w, h, cfg));
    cfg.bits = 2;
    cfg.group_size = 0;
    QVERIFY_THROWS_EXCEPTION(c10::Error, neuqi_search(w, h, cfg));
    cfg.group_size = -1;
    at::Tensor bad = w.clone();
    bad[1][3] = std::nan("");
    QVERIFY_THROWS_EXCEPTION(c10::Error, neuqi_search(bad, h, cfg));
    at::Tensor neg = h.clone();
    neg[5] = -1.0;
    QVERIFY_THROWS_EXCEPTION(c10::Error, neuqi_search(w, neg, cfg));
    QVERIFY_THROWS_EXCEPTION(c10::Error, neuqi_search(w, at::ones({63}), cfg));
    try {
        cfg.group_size = -3;
        neuqi_search(w, h, cfg);
        QFAIL("no exception");
    } catch (const c10::Error& e) {
        QVERIFY2(QString(e.what()).contains("-3"), e.what());
    }
    // A group size that does not divide the row is not an error: the last group is shorter.
    cfg.group_size = 48;
    QCOMPARE(neuqi_search(w, h, cfg).scale.size(1), int64_t(2));
}

void TestZeroPoint::cpu_matches_cuda()
{
    if (!cuda_kernels_available())
        QSKIP("no CUDA device (or no CUDA kernels in this build): CPU vs CUDA not compared here");
    at::Tensor w = zp::test::make_weights("outlier", 32, 1024, 8).to(at::kFloat);
    at::Tensor h = ::importance(1024, "random", 4).to(at::kFloat);
    for (int bits : {2, 3, 4, 8})
        for (int group : {-1, 128, 96}) {  // 96: 1024 = 10 x 96 + 64
            SearchConfig cfg;
            cfg.bits = bits;
            cfg.group_size = group;
            SearchResult c = neuqi_search(w, h, cfg);
            SearchResult g = neuqi_search(w.cuda(), h.cuda(), cfg);
            double rel =
                ((g.loss.cpu() - c.loss).abs() / c.loss.clamp_min(1e-300)).max().item<double>();
            QVERIFY2(rel < 1e-6,
                     qPrintable(QString("%1 bit g%2: %3").arg(bits).arg(group).arg(rel)));
        }
}

QTEST_APPLESS_MAIN(TestZeroPoint)
#include "tst_zero_point.moc"
