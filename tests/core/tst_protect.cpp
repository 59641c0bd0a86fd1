// core/quant/protect: NeUQI's super-weight protection. Checked against plain loops written here:
// the quantizer (round half to even, clamp), the layer's mean and standard deviation, Min-Max's
// parameters, and a dense reference search (every scale of the same grid range, 4001 zero-points
// across each scale's unclipped range). A protected group must clip nothing, cost no more than
// Min-Max and no more than the dense reference; every other group must keep plain NeUQI's answer.
#undef slots
#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "core/common/error.h"
#include "core/quant/quantizer.h"

#include <QtTest/QtTest>

using namespace zp;

namespace {

double q_value(double w, double s, double z, int L)
{
    double v = std::nearbyint(w / s + z);  // round half to even (default rounding mode)
    v = std::min(std::max(v, 0.0), double(L - 1));
    return s * (v - z);
}

// sum_i h_i (Q(w_i) - w_i)^2 with h normalised over the group.
double group_loss(const std::vector<double>& w, const std::vector<double>& h, double s, double z,
                  int L)
{
    double hs = 0.0, acc = 0.0;
    for (double v : h)
        hs += v;
    for (size_t i = 0; i < w.size(); ++i) {
        const double e = q_value(w[i], s, z, L) - w[i];
        acc += h[i] / hs * e * e;
    }
    return acc;
}

std::vector<double> row_group(const at::Tensor& W, int64_t r, int64_t j, int64_t g)
{
    const at::Tensor w = W.to(at::kDouble);
    std::vector<double> out;
    for (int64_t c = j * g; c < std::min(W.size(1), (j + 1) * g); ++c)
        out.push_back(w[r][c].item<double>());
    return out;
}

// The dense reference: min over i in [ceil(T (L-1)/L), T] and 4001 z in the unclipped range.
double dense_reference(const std::vector<double>& w, const std::vector<double>& h, int L, int T)
{
    double lo_w = w[0], hi_w = w[0];
    for (double v : w) {
        lo_w = std::min(lo_w, v);
        hi_w = std::max(hi_w, v);
    }
    const double s0 = (hi_w - lo_w) / (L - 1);
    double best = INFINITY;
    for (int i = 1; i <= T; ++i) {
        const double s = s0 * i / T;
        if (s * L < hi_w - lo_w)
            continue;
        const double zlo = -0.5 - lo_w / s + 1e-4, zhi = L - 0.5 - hi_w / s - 1e-4;
        for (int k = 0; k <= 4000 && zlo <= zhi; ++k)
            best = std::min(best, group_loss(w, h, s, zlo + (zhi - zlo) * k / 4000.0, L));
    }
    return best;
}

struct Stats {
    double mean = 0.0, sd = 0.0;
};

Stats layer_stats(const at::Tensor& W)
{
    const at::Tensor a = W.to(at::kDouble).reshape({-1});
    Stats st;
    for (int64_t i = 0; i < a.numel(); ++i)
        st.mean += a[i].item<double>();
    st.mean /= double(a.numel());
    for (int64_t i = 0; i < a.numel(); ++i)
        st.sd += std::pow(a[i].item<double>() - st.mean, 2);
    st.sd = std::sqrt(st.sd / double(a.numel()));
    return st;
}

at::Tensor layer_with_outliers(int64_t rows, int64_t cols, uint64_t seed)
{
    at::Generator gen = at::detail::createCPUGenerator(seed);
    at::Tensor W = at::randn({rows, cols}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02;
    // Weights 5 to 7 sigma out: far enough for plain NeUQI (h = 1) to clip some of them.
    W[1][7] = -0.15f;
    W[3][cols - 2] = 0.12f;
    W[5][70] = 0.1f;
    return W;
}

}  // namespace

class TestProtect : public QObject {
    Q_OBJECT

    // full_grid: every scale of the band, so the result must match the dense reference; else
    // coarse-to-fine (the default), which must still clip nothing and beat Min-Max.
    void check_layer(const at::Tensor& W, const at::Tensor& importance, quant::Method method,
                     int64_t group, double k, bool full_grid = true)
    {
        const int bits = 3, L = 1 << bits, T = 256;
        quant::QuantConfig c;
        c.method = method;
        c.bits = bits;
        c.group_size = group;
        c.grid = T;
        c.coarse = 32;
        c.full_grid = full_grid;
        const quant::LayerQuant plain = quant::quantize_layer(W, at::Tensor(), c, "t", importance);
        c.protect.mode = quant::ProtectSetting::Mode::Sigmas;
        c.protect.sigmas = k;
        const quant::LayerQuant prot = quant::quantize_layer(W, at::Tensor(), c, "t", importance);
        const Stats st = layer_stats(W);
        const at::Tensor Wd = W.to(at::kDouble);
        std::vector<double> h(W.size(1));
        for (int64_t c2 = 0; c2 < W.size(1); ++c2)
            h[c2] = importance.defined() ? importance[c2].item<double>() : 1.0;
        const int64_t groups = (W.size(1) + group - 1) / group;
        QCOMPARE(prot.scale.size(1), groups);
        int64_t expected_protected = 0, clipped_before = 0;
        for (int64_t r = 0; r < W.size(0); ++r) {
            for (int64_t j = 0; j < groups; ++j) {
                const std::vector<double> w = row_group(W, r, j, group);
                const std::vector<double> hg(h.begin() + j * group,
                                             h.begin() + j * group + int64_t(w.size()));
                bool far = false;
                for (double v : w)
                    far = far || std::abs(v - st.mean) >= k * st.sd;
                const double s = prot.scale[r][j].item<double>(),
                             z = prot.zero[r][j].item<double>();
                if (!far) {
                    // Untouched: plain NeUQI's parameters, bit for bit.
                    QCOMPARE(s, plain.scale[r][j].item<double>());
                    QCOMPARE(z, plain.zero[r][j].item<double>());
                    continue;
                }
                ++expected_protected;
                if (method == quant::Method::NeUQIInt)
                    QCOMPARE(z, std::round(z));
                // Nothing clipped: every weight within half a step (the float32 parameters).
                for (size_t i = 0; i < w.size(); ++i) {
                    const double ps = plain.scale[r][j].item<double>(),
                                 pz = plain.zero[r][j].item<double>();
                    if (std::abs(q_value(w[i], ps, pz, L) - w[i]) > 0.5 * ps * (1 + 1e-6))
                        ++clipped_before;
                    QVERIFY2(
                        std::abs(q_value(w[i], s, z, L) - w[i]) <= 0.5 * s * (1 + 1e-5),
                        qPrintable(
                            QString("row %1 group %2 element %3 clipped").arg(r).arg(j).arg(i)));
                }
                // No worse than Min-Max (s0 = range / (L - 1), z = round(-min / s0)).
                double lo = w[0], hi = w[0];
                for (double v : w) {
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
                const double s_mm = (hi - lo) / (L - 1);
                const double loss = group_loss(w, hg, s, z, L);
                const double loss_mm = group_loss(w, hg, s_mm, std::nearbyint(-lo / s_mm), L);
                QVERIFY2(loss <= loss_mm * (1 + 1e-5),
                         qPrintable(QString("%1 > Min-Max %2").arg(loss).arg(loss_mm)));
                if (method == quant::Method::NeUQI && full_grid) {
                    const double ref = dense_reference(w, hg, L, T);
                    QVERIFY2(loss <= ref * (1 + 1e-5),
                             qPrintable(QString("%1 > dense reference %2").arg(loss).arg(ref)));
                }
                // The reported loss is this group's loss.
                QVERIFY(std::abs(prot.group_loss[r][j].item<double>() - loss) <=
                        1e-4 * loss + 1e-15);
            }
        }
        QCOMPARE(prot.protected_groups, expected_protected);
        QVERIFY(expected_protected >= 2);
        // Plain NeUQI did clip some of them (otherwise the test shows nothing).
        QVERIFY(clipped_before > 0);
    }

private Q_SLOTS:
    void neuqi_protected_groups()
    {
        check_layer(layer_with_outliers(8, 128, 11), at::Tensor(), quant::Method::NeUQI, 64, 4.0);
    }

    void coarse_to_fine()
    {
        check_layer(layer_with_outliers(8, 128, 11), at::Tensor(), quant::Method::NeUQI, 64, 4.0,
                    false);
    }

    void neuqi_with_importance_and_short_group()
    {
        // 100 columns in groups of 64: the last group has 36, and one super-weight sits in it.
        at::Generator gen = at::detail::createCPUGenerator(3);
        at::Tensor h = at::rand({100}, gen, at::TensorOptions().dtype(at::kDouble)) + 0.1;
        check_layer(layer_with_outliers(6, 100, 12), h, quant::Method::NeUQI, 64, 4.0);
    }

    void integer_zero_protected_groups()
    {
        check_layer(layer_with_outliers(8, 128, 13), at::Tensor(), quant::Method::NeUQIInt, 32,
                    4.0);
    }

    void auto_is_the_data_free_remedy()
    {
        // Auto without calibration: every group with an integer zero-point and nothing clipped,
        // each no worse than Min-Max; with an importance (calibration) Auto is the plain search.
        const at::Tensor W = layer_with_outliers(8, 128, 16);
        const int L = 8;
        quant::QuantConfig c;
        c.method = quant::Method::NeUQI;
        c.bits = 3;
        c.group_size = 64;
        c.protect = quant::parse_protect("auto");
        // Auto decides per model (the pipeline measures every linear's tail); here the model is
        // said to hold super-weights.
        c.protect.model_heavy_tail = true;
        const quant::LayerQuant a = quant::quantize_layer(W, at::Tensor(), c, "t");
        QVERIFY(a.method == quant::Method::NeUQIInt);
        QCOMPARE(a.protected_groups, int64_t(8 * 2));
        const std::vector<double> ones(64, 1.0);
        for (int64_t r = 0; r < 8; ++r)
            for (int64_t j = 0; j < 2; ++j) {
                const std::vector<double> w = row_group(W, r, j, 64);
                const double s = a.scale[r][j].item<double>(), z = a.zero[r][j].item<double>();
                QCOMPARE(z, std::round(z));
                double lo = w[0], hi = w[0];
                for (size_t i = 0; i < w.size(); ++i) {
                    QVERIFY(std::abs(q_value(w[i], s, z, L) - w[i]) <= 0.5 * s * (1 + 1e-5));
                    lo = std::min(lo, w[i]);
                    hi = std::max(hi, w[i]);
                }
                const double s_mm = (hi - lo) / (L - 1);
                QVERIFY(group_loss(w, ones, s, z, L) <=
                        group_loss(w, ones, s_mm, std::nearbyint(-lo / s_mm), L) * (1 + 1e-5));
            }
        const at::Tensor h = at::ones({128}, at::kDouble);
        const quant::LayerQuant b = quant::quantize_layer(W, at::Tensor(), c, "t", h);
        c.protect = quant::parse_protect("off");
        const quant::LayerQuant plain = quant::quantize_layer(W, at::Tensor(), c, "t", h);
        QVERIFY(b.method == quant::Method::NeUQI);
        QVERIFY(at::equal(b.scale, plain.scale) && at::equal(b.zero, plain.zero));
        QCOMPARE(b.protected_groups, int64_t(0));
    }

    void auto_follows_the_tail()
    {
        // This layer's farthest weight is 7.5 standard deviations out (under kAutoTailSigmas):
        // alone (no model verdict) or in a model said to be light-tailed, Auto is the plain search;
        // in a model said to hold super-weights it is the remedy; one weight moved 12 standard
        // deviations out makes the layer alone decide for the remedy.
        const at::Tensor W = layer_with_outliers(8, 128, 16);
        quant::QuantConfig c;
        c.method = quant::Method::NeUQI;
        c.bits = 3;
        c.group_size = 64;
        c.protect = quant::parse_protect("off");
        const quant::LayerQuant plain = quant::quantize_layer(W, at::Tensor(), c, "t");
        c.protect = quant::parse_protect("auto");
        const quant::LayerQuant alone = quant::quantize_layer(W, at::Tensor(), c, "t");
        QVERIFY(alone.method == quant::Method::NeUQI);
        QVERIFY(at::equal(alone.scale, plain.scale) && at::equal(alone.zero, plain.zero));
        c.protect.model_heavy_tail = false;
        const quant::LayerQuant light = quant::quantize_layer(W, at::Tensor(), c, "t");
        QVERIFY(light.method == quant::Method::NeUQI);
        QVERIFY(at::equal(light.scale, plain.scale) && at::equal(light.zero, plain.zero));
        c.protect.model_heavy_tail = true;
        QVERIFY(quant::quantize_layer(W, at::Tensor(), c, "t").method == quant::Method::NeUQIInt);

        at::Tensor far = W.clone();
        const double mean = far.to(at::kDouble).mean().item<double>();
        const double sd = far.to(at::kDouble).std().item<double>();
        far[2][40] = static_cast<float>(mean + 12.5 * sd);
        c.protect = quant::parse_protect("auto");
        QVERIFY(quant::has_heavy_tail(far));
        QVERIFY(!quant::has_heavy_tail(W));
        QVERIFY(quant::quantize_layer(far, at::Tensor(), c, "t").method == quant::Method::NeUQIInt);
    }

    void parse_and_format()
    {
        QCOMPARE(quant::format_protect(quant::parse_protect("auto")), std::string("auto"));
        QCOMPARE(quant::format_protect(quant::parse_protect("all")), std::string("all"));
        QCOMPARE(quant::format_protect(quant::parse_protect("off")), std::string("off"));
        QCOMPARE(quant::format_protect(quant::parse_protect("10")), std::string("10"));
        QCOMPARE(quant::parse_protect("2.5").sigmas, 2.5);
        for (const char* bad : {"", "0", "-3", "nan", "inf", "10x", "some"}) {
            try {
                quant::parse_protect(bad);
                QFAIL(qPrintable(QString("accepted '%1'").arg(bad)));
            } catch (const InvalidArgument& e) {
                QVERIFY(QString(e.what()).contains("expected off, auto, all"));
            }
        }
    }

    void min_max_and_off_untouched()
    {
        const at::Tensor W = layer_with_outliers(8, 128, 14);
        quant::QuantConfig c;
        c.method = quant::Method::MinMax;
        c.bits = 3;
        c.group_size = 32;
        const quant::LayerQuant a = quant::quantize_layer(W, at::Tensor(), c, "t");
        c.protect = quant::parse_protect("4");
        const quant::LayerQuant b = quant::quantize_layer(W, at::Tensor(), c, "t");
        QVERIFY(at::equal(a.scale, b.scale) && at::equal(a.zero, b.zero));
        QCOMPARE(b.protected_groups, int64_t(0));
    }

    void bad_values_refused()
    {
        const at::Tensor W = layer_with_outliers(8, 128, 15);
        quant::QuantConfig c;
        c.method = quant::Method::NeUQI;
        c.group_size = 32;
        for (double bad : {-1.0, double(NAN), double(INFINITY)}) {
            c.protect.mode = quant::ProtectSetting::Mode::Sigmas;
            c.protect.sigmas = bad;
            try {
                quant::quantize_layer(W, at::Tensor(), c, "block 3 gate_proj");
                QFAIL("accepted a bad protect value");
            } catch (const InvalidArgument& e) {
                QVERIFY(QString(e.what()).contains("block 3 gate_proj: protect"));
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestProtect)
#include "tst_protect.moc"
