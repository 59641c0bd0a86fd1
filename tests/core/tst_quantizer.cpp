// core/quant: the layer quantizer, its diagnostics and its error messages; core/analysis: the
// teaching-plot data against the search it explains.
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/analysis/loss_curves.h"
#include "core/common/error.h"
#include "core/demo/synthetic.h"
#include "core/quant/quantizer.h"
#include "kernels/zero_point.h"

using namespace zp;

namespace {

// The values of a tensor, in T.
template <typename T>
std::vector<T> values(const at::Tensor& t)
{
    const at::Tensor c = t.cpu().to(c10::CppTypeToScalarType<T>::value).contiguous();
    return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// Scalar references written from core/MATHS.md sections 1-2 apart from the code under test
// (plain loops, like ggml's *_ref functions). W [rows, cols] row-major float32 like the layer, its
// parameters [rows, ceil(cols / g)] float32 (group = column / g, the last one shorter when g does
// not divide cols): code = clamp(round(w/s + z), 0, N-1) (half to even) and
// Q = s (code - z), computed in float32 like the stored weights.
struct LayerRef {
    std::vector<int> codes;  // [rows, cols]
    std::vector<double> dW;  // Q(W) - W, [rows, cols], exact in float64
};

LayerRef quantize_ref(const std::vector<float>& W, int64_t cols, int64_t g,
                      const std::vector<float>& s, const std::vector<float>& z, int bits)
{
    const int64_t rows = static_cast<int64_t>(W.size()) / cols, groups = (cols + g - 1) / g;
    const float top = static_cast<float>((1 << bits) - 1);
    LayerRef r;
    r.codes.resize(W.size());
    r.dW.resize(W.size());
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < cols; ++c) {
            const float sc = s[i * groups + c / g], zc = z[i * groups + c / g], w = W[i * cols + c];
            const float code = std::min(std::max(std::nearbyint(w / sc + zc), 0.0f), top);
            r.codes[i * cols + c] = static_cast<int>(code);
            r.dW[i * cols + c] = static_cast<double>(sc * (code - zc)) - static_cast<double>(w);
        }
    return r;
}

// Min-Max per group: s = (max - min) / (N - 1), z = round(-min / s).
void minmax_ref(const std::vector<float>& W, int64_t cols, int64_t g, int bits,
                std::vector<float>* s, std::vector<float>* z)
{
    const int64_t rows = static_cast<int64_t>(W.size()) / cols, groups = (cols + g - 1) / g;
    s->resize(rows * groups);
    z->resize(rows * groups);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < groups; ++j) {
            const float* p = W.data() + i * cols + j * g;
            const int64_t n = std::min(g, cols - j * g);  // the last group may be short
            const float lo = *std::min_element(p, p + n), hi = *std::max_element(p, p + n);
            const float scale = hi > lo ? (hi - lo) / static_cast<float>((1 << bits) - 1) : 1.0f;
            (*s)[i * groups + j] = scale;
            (*z)[i * groups + j] = std::nearbyint(-lo / scale);
        }
}

// sum_rows sum_i h_i dW_i^2 and sum_rows sum_ij dW_i H_ij dW_j (H [cols, cols] row-major).
double diag_loss_ref(const std::vector<double>& dW, const std::vector<double>& h)
{
    const size_t cols = h.size();
    double acc = 0.0;
    for (size_t k = 0; k < dW.size(); ++k)
        acc += h[k % cols] * dW[k] * dW[k];
    return acc;
}

double proxy_loss_ref(const std::vector<double>& dW, const std::vector<double>& H, size_t cols)
{
    double acc = 0.0;
    for (size_t r = 0; r < dW.size() / cols; ++r)
        for (size_t i = 0; i < cols; ++i)
            for (size_t j = 0; j < cols; ++j)
                acc += dW[r * cols + i] * H[i * cols + j] * dW[r * cols + j];
    return acc;
}

}  // namespace

class TestQuantizer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void methods_and_diagnostics_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        for (const auto& m : quant::methods())
            for (int bits : {2, 3, 4})
                for (int group : {-1, 64, 96})  // 96: 256 = 2 x 96 + a last group of 64
                    QTest::newRow(
                        qPrintable(QString("%1/%2bit/g%3").arg(m.name).arg(bits).arg(group)))
                        << QString(m.name) << bits << group;
    }

    void methods_and_diagnostics()
    {
        QFETCH(QString, method);
        QFETCH(int, bits);
        QFETCH(int, group);
        at::Tensor W = demo::synthetic_weight(32, 256, 11);
        at::Tensor X =
            at::randn({512, 256}, at::kDouble) * demo::synthetic_importance(256, 11).sqrt();
        at::Tensor H = X.t().matmul(X) / 512.0;  // a real proxy Hessian from inputs x
        quant::QuantConfig cfg;
        cfg.method = quant::parse_method(method.toStdString());
        cfg.bits = bits;
        cfg.group_size = group;
        cfg.grid = cfg.method == quant::Method::NeUQIInt ? 256 : 2048;
        quant::LayerQuant r = quant::quantize_layer(W, H, cfg, "layer");
        const auto& d = r.diagnostics;
        // The diag loss the method minimises (per group, with the damped diagonal) is never above
        // Min-Max's on the same weights.
        QVERIFY(d.diag_loss <= d.diag_loss_minmax * (1 + 1e-12));
        QVERIFY((r.group_loss <= r.group_loss_minmax).all().item<bool>());
        // The codes, the dequantized weights and the four diagnostics against the scalar
        // references, from the stored (s, z) and from Min-Max's. The layer subtracts in float32
        // before widening, the references exactly: relative 1e-6 covers that rounding.
        const int64_t g = group < 0 ? 256 : group;
        const std::vector<float> Wv = values<float>(W);
        const std::vector<double> Hv = values<double>(H);
        std::vector<double> h(256);
        double mean = 0.0;
        for (int64_t i = 0; i < 256; ++i)
            mean += Hv[i * 256 + i] / 256.0;
        for (int64_t i = 0; i < 256; ++i)
            h[i] = Hv[i * 256 + i] + 0.01 * mean;  // damping first, then the diagonal
        const std::vector<double> imp = values<double>(r.importance);
        for (int64_t i = 0; i < 256; ++i)
            QVERIFY2(
                std::abs(imp[i] - h[i]) <= 1e-14 * h[i],
                qPrintable(
                    QString("importance[%1] = %2, reference %3").arg(i).arg(imp[i]).arg(h[i])));
        const LayerRef q =
            quantize_ref(Wv, 256, g, values<float>(r.scale), values<float>(r.zero), bits);
        QCOMPARE(r.codes.size(1), int64_t(256));
        QCOMPARE(r.scale.size(1), (256 + g - 1) / g);
        QVERIFY(values<int>(r.codes) == q.codes);
        const std::vector<float> dq = values<float>(r.dequantized);
        for (size_t k = 0; k < dq.size(); ++k)
            QVERIFY(static_cast<double>(dq[k]) - static_cast<double>(Wv[k]) == q.dW[k]);
        std::vector<float> s_mm, z_mm;
        minmax_ref(Wv, 256, g, bits, &s_mm, &z_mm);
        const LayerRef mm = quantize_ref(Wv, 256, g, s_mm, z_mm, bits);
        auto close = [](double got, double ref) {
            return std::abs(got - ref) <= 1e-6 * std::abs(ref);
        };
        const double diag = diag_loss_ref(q.dW, h), diag_mm = diag_loss_ref(mm.dW, h);
        const double proxy = proxy_loss_ref(q.dW, Hv, 256),
                     proxy_mm = proxy_loss_ref(mm.dW, Hv, 256);
        QVERIFY2(close(d.diag_loss, diag),
                 qPrintable(QString("diag loss %1, reference %2").arg(d.diag_loss).arg(diag)));
        QVERIFY2(close(d.diag_loss_minmax, diag_mm),
                 qPrintable(QString("Min-Max diag loss %1, reference %2")
                                .arg(d.diag_loss_minmax)
                                .arg(diag_mm)));
        QVERIFY2(close(d.proxy_loss, proxy),
                 qPrintable(QString("proxy loss %1, reference %2").arg(d.proxy_loss).arg(proxy)));
        QVERIFY2(close(d.proxy_loss_minmax, proxy_mm),
                 qPrintable(QString("Min-Max proxy loss %1, reference %2")
                                .arg(d.proxy_loss_minmax)
                                .arg(proxy_mm)));
        QVERIFY(d.proxy_loss > 0 && d.proxy_loss_minmax > 0);
        if (cfg.method == quant::Method::NeUQI)
            QVERIFY2(d.diag_loss < d.diag_loss_minmax,
                     "NeUQI should beat Min-Max on heavy-tailed weights");
    }

    void data_free_importance_is_one()
    {
        at::Tensor W = demo::synthetic_weight(8, 128, 2);
        quant::QuantConfig cfg;
        quant::LayerQuant r = quant::quantize_layer(W, at::Tensor(), cfg, "layer");
        QVERIFY(r.importance.eq(1.0).all().item<bool>());
        QCOMPARE(r.diagnostics.proxy_loss, -1.0);
    }

    void errors_name_the_layer()
    {
        at::Tensor W = at::randn({4, 64});
        quant::QuantConfig cfg;
        cfg.group_size = 0;
        try {
            quant::quantize_layer(W, at::Tensor(), cfg, "blk.3.ffn_down");
            QFAIL("no exception");
        } catch (const InvalidArgument& e) {
            QString m = e.what();
            QVERIFY2(m.contains("blk.3.ffn_down") && m.contains("group size") && m.contains("0"),
                     e.what());
        }
        // 48 does not divide 64: groups of 48 and 16, not an error.
        cfg.group_size = 48;
        QCOMPARE(quant::quantize_layer(W, at::Tensor(), cfg, "x").scale.size(1), int64_t(2));
        cfg.group_size = -1;
        cfg.bits = 9;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::quantize_layer(W, at::Tensor(), cfg, "x"));
        cfg.bits = 2;
        at::Tensor bad = W.clone();
        bad[2][7] = std::nan("");
        try {
            quant::quantize_layer(bad, at::Tensor(), cfg, "q_proj");
            QFAIL("no exception");
        } catch (const NumericError& e) {
            QVERIFY2(QString(e.what()).contains("q_proj") && QString(e.what()).contains("[2, 7]"),
                     e.what());
        }
        at::Tensor neg = at::ones({64}, at::kDouble);
        neg[3] = -1.0;
        QVERIFY_THROWS_EXCEPTION(NumericError,
                                 quant::quantize_layer(W, at::Tensor(), cfg, "x", neg));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::parse_method("rtn"));
    }

    void analysis_matches_the_search()
    {
        at::Tensor W = demo::synthetic_weight(4, 128, 5).to(at::kDouble);
        at::Tensor h = demo::synthetic_importance(128, 5);
        std::vector<double> w(128), hv(128);
        for (int i = 0; i < 128; ++i) {
            w[i] = W[1][i].item<double>();
            hv[i] = h[i].item<double>();
        }
        for (int bits : {2, 3, 4}) {
            analysis::ScaleLandscape L = analysis::scale_landscape(w, hv, bits);
            QCOMPARE(int(L.scale.size()), 2048);
            QCOMPARE(int(L.coarse.size()), 64);
            QCOMPARE(int(L.fine.size()), 32);
            // The search on the same group lands on the same loss.
            kernels::SearchConfig cfg;
            cfg.bits = bits;
            kernels::SearchResult r = kernels::neuqi_search(W.narrow(0, 1, 1), h, cfg);
            double searched = r.loss.item<double>();
            QVERIFY2(std::abs(searched - std::min(L.chosen_loss, L.minmax_loss)) <= 1e-9 * searched,
                     qPrintable(QString("%1 vs %2").arg(searched).arg(L.chosen_loss)));
            // The landscape's points are optimal in z: a dense L(z) never goes below them.
            analysis::ZCurve c = analysis::loss_curve_z(w, hv, bits, L.chosen_scale,
                                                        L.chosen_zero - 2, L.chosen_zero + 2, 2001);
            double lo = *std::min_element(c.loss.begin(), c.loss.end());
            QVERIFY(lo >= c.loss_opt * (1 - 1e-9));
            QVERIFY(std::abs(c.loss_opt - L.chosen_loss) <= 1e-9 * c.loss_opt);
            QVERIFY(!c.breakpoints.empty());
            QCOMPARE(int(c.int_loss.size()), 1 << bits);
            analysis::LossGrid g =
                analysis::loss_grid(w, hv, bits, 0.3 * L.s0, 1.1 * L.s0, 9, -2, 1 << bits, 41);
            QCOMPARE(g.loss.size(), size_t(9 * 41));
            QCOMPARE(g.z_star.size(), size_t(9));
        }
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, analysis::loss_curve_z(w, hv, 9, 0.1, 0, 1, 10));
    }
};

QTEST_APPLESS_MAIN(TestQuantizer)
#include "tst_quantizer.moc"
