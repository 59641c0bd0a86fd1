// core/analysis/outliers: super-weights that the chosen parameters clip. A synthetic layer with one
// weight far out of the layer's distribution: Min-Max (clip 1) keeps it within half a step; a
// clipped Min-Max range (clip 0.3) reconstructs it far off, and exactly that weight is reported,
// with the sigma and step computed here by plain loops.
#undef slots
#include <ATen/ATen.h>

#include <cmath>

#include "core/analysis/distill_movement.h"
#include "core/analysis/outliers.h"
#include "core/common/error.h"
#include "core/quant/quantizer.h"
#include "core/quant/result.h"

#include <QtTest/QtTest>

using namespace zp;

namespace {

quant::LayerResult layer_of(const at::Tensor& W, double clip, int64_t group)
{
    quant::QuantConfig c;
    c.method = quant::Method::MinMax;
    c.bits = 3;
    c.group_size = group;
    c.clip = clip;
    const quant::LayerQuant q = quant::quantize_layer(W, at::Tensor(), c, "test");
    quant::LayerResult l;
    l.name = "gate_proj";
    l.out_features = W.size(0);
    l.in_features = W.size(1);
    l.group_size = q.group_size;
    l.scale = q.scale.to(at::kFloat);
    l.zero = q.zero.to(at::kFloat);
    l.codes = q.codes;
    return l;
}

}  // namespace

class TestOutliers : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void clipped_super_weight_is_reported()
    {
        at::Generator gen = at::detail::createCPUGenerator(5);
        at::Tensor W = at::randn({6, 96}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02;
        // One weight far out of the layer's distribution (its statistics computed here by loops).
        W[4][37] = -0.9f;
        const at::Tensor all = W.to(at::kDouble).reshape({-1});
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < all.numel(); ++i)
            mean += all[i].item<double>();
        mean /= double(all.numel());
        for (int64_t i = 0; i < all.numel(); ++i)
            var += std::pow(all[i].item<double>() - mean, 2);
        const double sd = std::sqrt(var / double(all.numel()));
        const double sigmas = std::abs(-0.9 - mean) / sd;
        QVERIFY(sigmas > 9.0);

        for (int64_t group : {int64_t(-1), int64_t(64)}) {  // 96 = 64 + 32: a short last group
            QVERIFY(analysis::clipped_outliers(W, layer_of(W, 1.0, group), 5.0).empty());
            const quant::LayerResult l = layer_of(W, 0.3, group);
            const auto got = analysis::clipped_outliers(W, l, 5.0);
            QCOMPARE(got.size(), size_t(1));
            QCOMPARE(got[0].row, int64_t(4));
            QCOMPARE(got[0].col, int64_t(37));
            QVERIFY(std::abs(got[0].sigmas - sigmas) < 1e-4 * sigmas);
            const at::Tensor What = quant::QuantizedModel::dequantize(l);
            QCOMPARE(got[0].reconstructed, double(What[4][37].item<float>()));
            const int64_t g = group < 0 ? 96 : group;
            QCOMPARE(got[0].step, double(std::abs(l.scale[4][37 / g].item<float>())));
            QVERIFY(std::abs(got[0].reconstructed - got[0].value) > 0.5 * got[0].step);
            // At 0.3 sigma, exactly the weights a plain loop finds: beyond 0.3 sigma and more than
            // half their group's step off (many of them only a little more).
            size_t want = 0, mild = 0;
            for (int64_t r = 0; r < W.size(0); ++r)
                for (int64_t c = 0; c < W.size(1); ++c) {
                    const double v = W[r][c].item<float>();
                    const double step = std::abs(l.scale[r][c / g].item<float>());
                    const double err = std::abs(What[r][c].item<float>() - v);
                    if (std::abs(v - mean) / sd >= 0.3 && err > 0.5 * step * (1.0 + 1e-6)) {
                        ++want;
                        mild += err < 2.0 * step;
                    }
                }
            QVERIFY(mild > 0);
            QCOMPARE(analysis::clipped_outliers(W, l, 0.3).size(), want);
            // A higher threshold than its sigma reports nothing.
            QVERIFY(analysis::clipped_outliers(W, l, sigmas + 1.0).empty());
        }
    }

    // The Outliers view's table: every weight beyond k sd with its importance, its reconstruction
    // under the layer's parameters and under Min-Max, each checked against plain loops (Min-Max
    // per group written out again: s = (max - min) / 7, z = round(-min / s)).
    void outlier_table_against_loops()
    {
        at::Generator gen = at::detail::createCPUGenerator(11);
        at::Tensor W = at::randn({5, 96}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02;
        W[1][70] = 0.8f;  // in the short last group (96 = 64 + 32)
        W[3][5] = -0.6f;
        for (int64_t group : {int64_t(-1), int64_t(64)}) {
            quant::LayerResult l = layer_of(W, 0.3, group);
            l.bits = 3;
            l.hessian_diag = at::arange(96, at::kDouble) + 1.0;  // h[c] = c + 1
            const int64_t g = group < 0 ? 96 : group;
            // The layer's statistics and Min-Max by loops.
            double mean = 0.0, var = 0.0;
            for (int64_t r = 0; r < 5; ++r)
                for (int64_t c = 0; c < 96; ++c)
                    mean += W[r][c].item<float>();
            mean /= 480.0;
            for (int64_t r = 0; r < 5; ++r)
                for (int64_t c = 0; c < 96; ++c)
                    var += std::pow(W[r][c].item<float>() - mean, 2);
            const double sd = std::sqrt(var / 480.0);
            auto minmax = [&](int64_t r, int64_t c, double* step) {
                const int64_t c0 = c / g * g, c1 = std::min<int64_t>(c0 + g, 96);
                double mn = 1e300, mx = -1e300;
                for (int64_t j = c0; j < c1; ++j) {
                    mn = std::min(mn, double(W[r][j].item<float>()));
                    mx = std::max(mx, double(W[r][j].item<float>()));
                }
                const double s = (mx - mn) / 7.0, z = std::nearbyint(-mn / s);
                const double q =
                    std::min(7.0, std::max(0.0, std::nearbyint(W[r][c].item<float>() / s + z)));
                *step = s;
                return s * (q - z);
            };
            const at::Tensor What = quant::QuantizedModel::dequantize(l);
            for (double k : {5.0, 1.5}) {
                const analysis::OutlierTable t = analysis::outlier_table(W, l, k);
                QVERIFY(std::abs(t.mean - mean) < 1e-9);
                QVERIFY(std::abs(t.sd - sd) < 1e-6 * sd);
                QCOMPARE(t.weights, int64_t(480));
                size_t want = 0;
                int64_t clipped = 0, clipped_mm = 0;
                for (int64_t r = 0; r < 5; ++r)
                    for (int64_t c = 0; c < 96; ++c) {
                        const double v = W[r][c].item<float>();
                        if (std::abs(v - mean) / sd < k)
                            continue;
                        ++want;
                        double mstep = 0.0;
                        const double mm = minmax(r, c, &mstep);
                        const double step = std::abs(l.scale[r][c / g].item<float>());
                        const double hat = What[r][c].item<float>();
                        clipped += std::abs(hat - v) > 0.5 * step * (1.0 + 1e-6);
                        clipped_mm += std::abs(mm - v) > 0.5 * mstep * (1.0 + 1e-6);
                        bool found = false;
                        for (const analysis::OutlierWeight& o : t.outliers)
                            if (o.row == r && o.col == c) {
                                found = true;
                                QCOMPARE(o.value, v);
                                QCOMPARE(o.importance, double(c + 1));
                                QCOMPARE(o.reconstructed, hat);
                                QVERIFY(std::abs(o.reconstructed_minmax - mm) < 1e-6);
                                QVERIFY(std::abs(o.step_minmax - mstep) < 1e-6);
                                QCOMPARE(o.step, step);
                            }
                        QVERIFY(found);
                    }
                QCOMPARE(t.outliers.size(), want);
                QCOMPARE(t.clipped, clipped);
                QCOMPARE(t.clipped_minmax, clipped_mm);
                for (size_t i = 1; i < t.outliers.size(); ++i)
                    QVERIFY(std::abs(t.outliers[i - 1].value) >= std::abs(t.outliers[i].value));
            }
            // At 5 sd: the two planted weights, the larger first; clip 0.3 clips both, Min-Max
            // (clip 1) neither.
            const analysis::OutlierTable t = analysis::outlier_table(W, l, 5.0);
            QCOMPARE(t.outliers.size(), size_t(2));
            QCOMPARE(t.outliers[0].row, int64_t(1));
            QCOMPARE(t.outliers[0].col, int64_t(70));
            QVERIFY(t.outliers[0].clipped && t.outliers[1].clipped);
            QVERIFY(!t.outliers[0].clipped_minmax && !t.outliers[1].clipped_minmax);
        }
        quant::LayerResult skipped = layer_of(W, 1.0, -1);
        skipped.skipped = true;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, analysis::outlier_table(W, skipped, 5.0));
    }

    void mismatched_weights_are_refused()
    {
        const at::Tensor W = at::randn({4, 32});
        quant::LayerResult l = layer_of(W, 1.0, -1);
        QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                                 analysis::clipped_outliers(at::randn({4, 16}), l, 10.0));
        l.skipped = true;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, analysis::clipped_outliers(W, l, 10.0));
    }

    // Distillation's movement map (core/analysis/distill_movement): mean |x - x0| / mean |x0| per
    // layer, checked against plain loops over the values; skipped layers, layers without a
    // counterpart, mismatched shapes and an all-zero start are handled as documented.
    void distill_movement_matches_plain_loops()
    {
        auto layer = [](int block, const char* name, std::vector<float> s, std::vector<float> z) {
            quant::LayerResult l;
            l.block = block;
            l.name = name;
            l.scale = at::tensor(s).reshape({static_cast<int64_t>(s.size()), 1});
            l.zero = at::tensor(z).reshape({static_cast<int64_t>(z.size()), 1});
            return l;
        };
        // The sums of s0 and s1 differ, so swapping "before" and "after" is caught.
        const std::vector<float> s0{0.5f, 0.25f, 1.0f}, s1{0.6f, 0.2f, 1.0f};
        const std::vector<float> z0{1.5f, 2.0f, 0.0f}, z1{1.25f, 2.5f, 0.125f};
        quant::QuantizedModel before, after;
        before.layers = {layer(0, "q_proj", s0, z0), layer(0, "k_proj", s0, z0),
                         layer(1, "q_proj", s0, {0.f, 0.f, 0.f}), layer(1, "o_proj", s0, z0)};
        after.layers = {layer(0, "q_proj", s1, z1), layer(0, "k_proj", s1, z1),
                        layer(1, "q_proj", s1, z1), layer(1, "v_proj", s1, z1),
                        layer(1, "o_proj", {0.5f, 0.25f}, {1.5f, 2.0f})};
        after.layers[1].skipped = true;
        auto plain = [](const std::vector<float>& x, const std::vector<float>& x0) {
            double num = 0.0, den = 0.0;
            for (size_t i = 0; i < x.size(); ++i) {
                num += std::abs(double(x[i]) - double(x0[i]));
                den += std::abs(double(x0[i]));
            }
            return num / den;
        };
        const auto m = analysis::distill_movement(before, after);
        // (0, k_proj) is skipped and (1, v_proj) has no counterpart: three entries remain.
        QCOMPARE(m.size(), size_t(3));
        QCOMPARE(m[0].block, int64_t(0));
        QCOMPARE(QString::fromStdString(m[0].name), QStringLiteral("q_proj"));
        QVERIFY(std::abs(m[0].scale - plain(s1, s0)) < 1e-7);
        QVERIFY(std::abs(m[0].zero - plain(z1, z0)) < 1e-7);
        QVERIFY(m[0].scale > 0.0 && m[0].zero > m[0].scale);
        QCOMPARE(m[1].block, int64_t(1));
        QVERIFY(std::abs(m[1].scale - plain(s1, s0)) < 1e-7);
        QVERIFY(std::isnan(m[1].zero));  // the zero-points started at 0
        QCOMPARE(QString::fromStdString(m[2].name), QStringLiteral("o_proj"));
        QVERIFY(std::isnan(m[2].scale) && std::isnan(m[2].zero));  // shapes differ
        QVERIFY(std::isnan(analysis::relative_movement(at::Tensor(), at::ones({2}))));
    }
};

QTEST_GUILESS_MAIN(TestOutliers)
#include "tst_outliers.moc"
